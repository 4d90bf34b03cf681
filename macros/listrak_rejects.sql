{#- The rows of `candidates` that cannot meet the feed contract of `feed_model`, one row per
    (candidate row, reason), with the feed's key columns, the candidate's source_id, a reject_reason
    code and a human-readable reject_detail. Checks come from the mart's YAML tests:
      missing_email  a required e-mail column (email_format + not_null) is empty
      invalid_email  an e-mail column is filled but not a valid address
      missing_value  another required (not_null) column is empty
      too_long       a text value exceeds its max_length (skipped when truncate_overlong_text)
      duplicate_key  several candidate rows share the feed key (none of them is sent)
    `missing_reasons` renames missing_value for given columns (e.g. {'Sku': 'missing_sku'}).
    `extra_checks` adds feed-specific rules: a list of {reason, condition, detail} SQL snippets
    over the candidate columns. The result is a plain select, so a model can union more rows. -#}
{% macro listrak_rejects(feed_model, candidates, key_columns, missing_reasons={}, extra_checks=[]) -%}
    {%- set columns = listrak_feed_columns(feed_model) -%}
    {%- set keys = [] -%}
    {%- for key in key_columns -%}
        {%- do keys.append(adapter.quote(key)) -%}
    {%- endfor -%}
    {%- set checks = [] -%}
    {%- for column in columns -%}
        {%- set quoted = adapter.quote(column.name) -%}
        {%- if column.email and column.required -%}
            {%- do checks.append({
                'reason': 'missing_email',
                'condition': quoted ~ ' is null',
                'detail': "'" ~ column.name ~ " is empty'",
            }) -%}
        {%- elif column.required -%}
            {%- do checks.append({
                'reason': missing_reasons.get(column.name, 'missing_value'),
                'condition': quoted ~ ' is null',
                'detail': "'" ~ column.name ~ " is empty'",
            }) -%}
        {%- endif -%}
        {%- if column.email -%}
            {%- do checks.append({
                'reason': 'invalid_email',
                'condition': quoted ~ ' is not null and not ' ~ is_valid_email(quoted),
                'detail': "'" ~ column.name ~ " ''' || " ~ quoted ~ " || ''' is not a valid e-mail address'",
            }) -%}
        {%- endif -%}
        {%- if column.max_length and not var('truncate_overlong_text', false) -%}
            {%- do checks.append({
                'reason': 'too_long',
                'condition': 'length(' ~ quoted ~ ') > ' ~ column.max_length,
                'detail': "'" ~ column.name ~ " is ' || cast(length(" ~ quoted ~ ") as " ~ dbt.type_string()
                    ~ ") || ' characters long, maximum " ~ column.max_length ~ "'",
            }) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do checks.extend(extra_checks) -%}
    {%- for check in checks %}
    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        source_id,
        cast('{{ check.reason }}' as {{ dbt.type_string() }}) as reject_reason,
        cast({{ check.detail }} as {{ dbt.type_string() }}) as reject_detail
    from {{ candidates }}
    where {{ check.condition }}
    union all
    {%- endfor %}
    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        source_id,
        cast('duplicate_key' as {{ dbt.type_string() }}) as reject_reason,
        cast(
            '{{ key_columns | join(", ") }} shared by ' || cast(rows_with_key as {{ dbt.type_string() }}) || ' rows'
            as {{ dbt.type_string() }}
        ) as reject_detail
    from (
        select
            {%- for key in keys %}
            {{ key }},
            {%- endfor %}
            source_id,
            count(*) over (partition by {{ keys | join(', ') }}) as rows_with_key
        from {{ candidates }}
        where {{ keys | join(' is not null and ') }} is not null
    ) as keyed
    where rows_with_key > 1
{%- endmacro %}
