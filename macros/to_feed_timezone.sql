{#- Shopify timestamps arrive as UTC without a zone. The feeds carry local wall-clock time in
    var('feed_timezone') (an IANA name), still without a zone: formatting is the export's job. -#}
{% macro to_feed_timezone(expression) -%}
    {{ return(adapter.dispatch('to_feed_timezone', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{#- Postgres semantics: timestamp AT TIME ZONE 'UTC' gives a timestamptz, AT TIME ZONE tz makes it local. -#}
{% macro default__to_feed_timezone(expression) -%}
    cast((cast({{ expression }} as timestamp) at time zone 'UTC') at time zone '{{ var("feed_timezone") }}' as timestamp)
{%- endmacro %}

{% macro duckdb__to_feed_timezone(expression) -%}
    timezone('{{ var("feed_timezone") }}', timezone('UTC', cast({{ expression }} as timestamp)))
{%- endmacro %}

{#- Spark: timestamps are instants shown in the session time zone (UTC in the profile);
    from_utc_timestamp shifts a UTC wall-clock time to the zone's. -#}
{% macro spark__to_feed_timezone(expression) -%}
    from_utc_timestamp(cast({{ expression }} as timestamp), '{{ var("feed_timezone") }}')
{%- endmacro %}
