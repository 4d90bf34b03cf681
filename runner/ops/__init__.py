"""Operating the feeds: `feeds status` (status), the Prometheus textfile (metrics), webhooks (notify)
and the HTML report (report, charts). They read the run records (runner.record) and the settings;
the one warehouse look-up they need (source freshness) goes through dbt, on the engine in use."""
