{#- Generic data tests (the project cannot install dbt-utils). Each returns the failing rows. -#}

{% test email_format(model, column_name) %}
    select {{ column_name }} as failing_value
    from {{ model }}
    where {{ column_name }} is not null
        and not {{ is_valid_email(column_name) }}
{% endtest %}

{% test max_length(model, column_name, length) %}
    select
        {{ column_name }} as failing_value,
        length({{ column_name }}) as value_length
    from {{ model }}
    where length({{ column_name }}) > {{ length }}
{% endtest %}

{#- On a column: that column. On a model (no column): every text column of the built relation in
    one scan, so a feed with twenty text columns costs one test, and a new column is covered. -#}
{% test no_line_breaks(model, column_name=none) %}
    {%- set names = [] -%}
    {%- if column_name is not none -%}
        {%- do names.append(column_name) -%}
    {%- elif execute -%}
        {%- for column in adapter.get_columns_in_relation(model) if column.is_string() -%}
            {%- do names.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
    {%- endif -%}
    select *
    from {{ model }}
    where
    {%- for name in names %}
        {{ 'or ' if not loop.first }}{{ name }} like '%' || chr(13) || '%'
        or {{ name }} like '%' || chr(10) || '%'
        or {{ name }} like '%' || chr(9) || '%'
    {%- else %}
        1 = 0
    {%- endfor %}
{% endtest %}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("accepted_range on " ~ column_name ~ ": give min_value, max_value or both") }}
    {%- endif -%}
    select {{ column_name }} as failing_value
    from {{ model }}
    where
        {%- if min_value is not none %}
        {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
        {%- endif %}
        {%- if min_value is not none and max_value is not none %} or{% endif %}
        {%- if max_value is not none %}
        {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
        {%- endif %}
{% endtest %}

{% test unique_combination_of_columns(model, combination_of_columns) %}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as rows_with_combination
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not ({{ column_name ~ ' ' if column_name }}{{ expression }})
{% endtest %}

{#- dbt's relationships test, except that a value the parent's rejects model lists as excluded by a
    rule (e.g. the SKU of a deleted or draft product, which old orders still name) is known too. -#}
{% test relationships_or_excluded(model, column_name, to, field, excluded_in) %}
    select child.{{ column_name }} as failing_value
    from {{ model }} as child
    left join {{ to }} as parent
        on child.{{ column_name }} = parent.{{ field }}
    left join (
        select distinct {{ field }} from {{ excluded_in }}
        where kind = 'excluded'
    ) as excluded
        on child.{{ column_name }} = excluded.{{ field }}
    where
        child.{{ column_name }} is not null
        and parent.{{ field }} is null
        and excluded.{{ field }} is null
{% endtest %}

{% test is_empty(model) %}
    select * from {{ model }}
{% endtest %}

{#- Quarantined rows (kind quarantined) against the whole feed's candidate rows. per_reason
    (the error level): fails when one reason other than never_fail_reasons holds more than `share`
    of the candidates and at least min_rows rows. per_reason false (the warn level): counts each
    quarantined row once over all those reasons together. -#}
{% test rejects_within_threshold(model, candidates, share=none, min_rows=none, never_fail_reasons=['missing_email'], per_reason=true, share_var='rejects_error_share') %}
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
{% endtest %}

{#- On a model: fails on rows where any text column holds an HTML tag or comment (<b>, </p>,
    <br/>, <!-- -->), which Listrak would show as typed. Text such as "<3" or "a < b" passes. -#}
{% test no_html_markup(model) %}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(model) if column.is_string() -%}
            {%- do names.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
    {%- endif -%}
    select *
    from {{ model }}
    where
    {%- for name in names %}
        {{ 'or ' if not loop.first }}{{ has_html_markup(name) }}
    {%- else %}
        1 = 0
    {%- endfor %}
{% endtest %}
