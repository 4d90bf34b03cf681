{#- On a feed mart: no row is dropped silently. From the mart's meta listrak_feed (rejects_model,
    candidates_model, source_model), two counts must hold:
      candidates: feed rows + distinct quarantined rows = candidate rows;
      source:     feed rows + distinct quarantined and excluded rows = source rows (orders, merged
                  order lines, customer records, variants), so no row is both or neither.
    Returns the checks whose counts disagree. The models are read from the graph, not named
    here: each is upstream of the mart, so dbt builds them before this test runs. -#}
{% test feed_accounts_for_every_row(model) %}
    {{ return(adapter.dispatch('test_feed_accounts_for_every_row', 'listrak_feeds')(model)) }}
{% endtest %}

{% macro default__test_feed_accounts_for_every_row(model) %}
    {%- set feed = listrak_feed_meta(model.identifier) -%}
    {%- set rejects = listrak_model_relation(feed.get('rejects_model')) -%}
    select
        check_name,
        feed_rows,
        rejected_rows,
        expected_rows
    from (
        select
            'candidates' as check_name,
            (select count(*) from {{ model }}) as feed_rows,
            (
                select count(distinct source_id) from {{ rejects }}
                where kind = 'quarantined'
            ) as rejected_rows,
            (select count(*) from {{ listrak_model_relation(feed.get('candidates_model')) }}) as expected_rows
        union all
        select
            'source' as check_name,
            (select count(*) from {{ model }}) as feed_rows,
            -- Counted apart, so a row both quarantined and excluded breaks the sum.
            (
                select count(distinct source_id) from {{ rejects }}
                where kind = 'quarantined'
            )
            + (
                select count(distinct source_id) from {{ rejects }}
                where kind = 'excluded'
            ) as rejected_rows,
            (select count(*) from {{ listrak_model_relation(feed.get('source_model')) }}) as expected_rows
    ) as counts
    where feed_rows + rejected_rows != expected_rows
{% endmacro %}
