{#- The body of stg_shopify__changes (one per Shopify API folder): one row per raw row of every table
    in `rows`, deleted rows included, as (entity, entity_id, synced_at). Each entry of `rows` is
    [entity, id column, raw table]: the entity the row belongs to, the column holding that entity's
    id in the table, and the table. `alternatives` maps a table to the other names a connector
    version lands it under (see shopify_source_select). -#}
{% macro shopify_changes(source_name, rows, alternatives={}) -%}
    {%- set tables = [] -%}
    {%- for row in rows if row[2] not in tables -%}
        {%- do tables.append(row[2]) -%}
    {%- endfor -%}
with
{% for table in tables %}
raw_{{ table }} as (

    {{ shopify_source_select(source_name, table, alternatives=alternatives.get(table, [])) }}

),
{% endfor %}
final as (
{% for entity, id_column, table in rows %}
    select
        cast('{{ entity }}' as {{ dbt.type_string() }}) as entity,
        cast({{ id_column }} as {{ dbt.type_bigint() }}) as entity_id,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from raw_{{ table }}
    {{- "\n    union all" if not loop.last }}
{%- endfor %}

)

select * from final
{%- endmacro %}
