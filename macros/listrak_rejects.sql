{#- The rows of `candidates` that cannot meet the feed contract of `feed_model`, one row per
    (candidate row, reason), with the feed's key columns, the candidate's source_id, kind
    'quarantined', a reject_reason code, the feed_column it is about (if one) and a human-readable
    reject_detail. Checks come from the mart's YAML tests:
      missing_email  a required e-mail column (email_format + not_null) is empty
      invalid_email  an e-mail column is filled but not a valid address
      missing_value  another required (not_null) column is empty
      too_long       a text value exceeds its max_length in a column whose over-length policy is
                     quarantine (key or required columns, or meta overlong: quarantine)
      duplicate_key  several candidate rows share the feed key (none of them is sent)
    Over-long values of a column whose policy is truncate are listed as kind 'truncated' (reason
    too_long): the row is sent with the value cut (see listrak_feed_select), and the run counts them.
    `missing_reasons` renames missing_value for given columns (e.g. {'Sku': 'missing_sku'}).
    `extra_checks` adds feed-specific rules: a list of {reason, condition, detail} SQL snippets
    over the candidate columns. The result is a plain select, so a model can union more rows
    (e.g. rows excluded by a documented rule, kind 'excluded').
    `entity` adds that candidate column last (the key of an incremental rejects model). When
    `candidates` holds only some entities (an incremental build), `all_candidates` is the whole
    candidate relation: a key is a duplicate when shared in all of it. -#}
{% macro listrak_rejects(feed_model, candidates, key_columns, missing_reasons={}, extra_checks=[], entity=none, all_candidates=none) -%}
    {%- set columns = listrak_feed_columns(feed_model) -%}
    {%- set keys = quoted_columns(key_columns) -%}
    {%- set checks = [] -%}
    {%- for column in columns -%}
        {%- set quoted = adapter.quote(column.name) -%}
        {%- if column.email and column.required -%}
            {%- do checks.append({
                'reason': 'missing_email',
                'column': column.name,
                'condition': quoted ~ ' is null',
                'detail': "'" ~ column.name ~ " is empty'",
            }) -%}
        {%- elif column.required -%}
            {%- do checks.append({
                'reason': missing_reasons.get(column.name, 'missing_value'),
                'column': column.name,
                'condition': quoted ~ ' is null',
                'detail': "'" ~ column.name ~ " is empty'",
            }) -%}
        {%- endif -%}
        {%- if column.email -%}
            {%- do checks.append({
                'reason': 'invalid_email',
                'column': column.name,
                'condition': quoted ~ ' is not null and not ' ~ is_valid_email(quoted),
                'detail': "'" ~ column.name ~ " ''' || " ~ quoted ~ " || ''' is not a valid e-mail address'",
            }) -%}
        {%- endif -%}
        {%- if column.max_length -%}
            {%- set truncated = column.overlong == 'truncate' -%}
            {%- do checks.append({
                'kind': 'truncated' if truncated else 'quarantined',
                'reason': 'too_long',
                'column': column.name,
                'condition': 'length(' ~ quoted ~ ') > ' ~ column.max_length,
                'detail': "'" ~ column.name ~ " is ' || cast(length(" ~ quoted ~ ") as " ~ dbt.type_string()
                    ~ ") || ' characters long, " ~ ('cut to ' if truncated else 'maximum ') ~ column.max_length ~ "'",
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
        cast('{{ check.kind or "quarantined" }}' as {{ dbt.type_string() }}) as kind,
        cast('{{ check.reason }}' as {{ dbt.type_string() }}) as reject_reason,
        cast({{ "'" ~ check.column ~ "'" if check.column else 'null' }} as {{ dbt.type_string() }}) as feed_column,
        cast({{ check.detail }} as {{ dbt.type_string() }}) as reject_detail
        {%- if entity %},
        {{ entity }}
        {%- endif %}
    from {{ candidates }}
    where {{ check.condition }}
    union all
    {%- endfor %}
    select
        {%- for key in keys %}
        keyed.{{ key }},
        {%- endfor %}
        keyed.source_id,
        cast('quarantined' as {{ dbt.type_string() }}) as kind,
        cast('duplicate_key' as {{ dbt.type_string() }}) as reject_reason,
        cast(null as {{ dbt.type_string() }}) as feed_column,
        cast(
            '{{ key_columns | join(", ") }} shared by ' || cast(shared_keys.rows_with_key as {{ dbt.type_string() }}) || ' rows'
            as {{ dbt.type_string() }}
        ) as reject_detail
        {%- if entity %},
        keyed.{{ entity }}
        {%- endif %}
    from {{ all_candidates or candidates }} as keyed
    inner join (
        select
            {%- for key in keys %}
            counted.{{ key }},
            {%- endfor %}
            count(*) as rows_with_key
        from {{ all_candidates or candidates }} as counted
        {%- if all_candidates %}
        {#- Only the keys of `candidates` can be shared by rows of theirs. #}
        inner join (select distinct {{ keys | join(', ') }} from {{ candidates }}) as own_keys
            on
            {%- for key in keys %}
            counted.{{ key }} = own_keys.{{ key }}{{ ' and' if not loop.last }}
            {%- endfor %}
        {%- endif %}
        where
            {%- for key in keys %}
            counted.{{ key }} is not null{{ ' and' if not loop.last }}
            {%- endfor %}
        group by
            {%- for key in keys %}
            counted.{{ key }}{{ ',' if not loop.last }}
            {%- endfor %}
        having count(*) > 1
    ) as shared_keys
        on
        {%- for key in keys %}
        keyed.{{ key }} = shared_keys.{{ key }}{{ ' and' if not loop.last }}
        {%- endfor %}
    {%- if all_candidates %}
    where keyed.{{ entity }} in (select {{ entity }} from {{ candidates }})
    {%- endif %}
{%- endmacro %}
