{#- Quarantined rows (kind quarantined) against the whole feed's candidate rows. per_reason
    (the error level): fails when one reason other than never_fail_reasons holds more than `share`
    of the candidates and at least min_rows rows. per_reason false (the warn level): counts each
    quarantined row once over all those reasons together. -#}
{% test rejects_within_threshold(model, candidates, share=none, min_rows=none, never_fail_reasons=['missing_email'], per_reason=true, share_var='rejects_error_share') %}
    {{ return(adapter.dispatch('test_rejects_within_threshold', 'listrak_feeds')(model, candidates, share, min_rows, never_fail_reasons, per_reason, share_var)) }}
{% endtest %}

{% macro default__test_rejects_within_threshold(model, candidates, share=none, min_rows=none, never_fail_reasons=['missing_email'], per_reason=true, share_var='rejects_error_share') %}
    {%- set share = share if share is not none else var(share_var, 0.05) -%}
    {%- set min_rows = min_rows if min_rows is not none else var('rejects_error_min_rows', 10) -%}
    with rejected as (
        select
            {{ 'reject_reason' if per_reason else "'any reason'" }} as reject_reason,
            count(distinct source_id) as rejected_rows
        from {{ model }}
        where
            kind = 'quarantined'
            {%- if never_fail_reasons %}
            and reject_reason not in ('{{ never_fail_reasons | join("', '") }}')
            {%- endif %}
        {%- if per_reason %}
        group by reject_reason
        {%- endif %}
    ),

    candidate_rows as (
        select count(*) as candidate_rows from {{ candidates }}
    )

    select
        rejected.reject_reason,
        rejected.rejected_rows,
        candidate_rows.candidate_rows
    from rejected
    cross join candidate_rows
    where
        rejected.rejected_rows >= {{ min_rows }}
        and rejected.rejected_rows > {{ share }} * candidate_rows.candidate_rows
{% endmacro %}
