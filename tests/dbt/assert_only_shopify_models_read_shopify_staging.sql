-- Shopify reaches the feeds only through the conformed layer: no model but the Shopify-named ones
-- (stg_shopify__*, int_shopify__*) may read a stg_shopify__ model or the shopify source. Returns
-- one row per offending dependency. Reads the graph (no table), so it runs without a build.
{%- set offenders = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- if not (node.name.startswith('stg_shopify__') or node.name.startswith('int_shopify__')) -%}
            {%- for parent in node.depends_on.nodes -%}
                {%- set reads_staging = parent.split('.')[-1].startswith('stg_shopify__') -%}
                {%- set reads_source = parent.startswith('source.' ~ project_name ~ '.shopify.')
                    or parent.startswith('source.' ~ project_name ~ '.shopify_gql.') -%}
                {%- if reads_staging or reads_source -%}
                    {%- do offenders.append((node.name, parent)) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}
with

offenders as (

    {%- for model_name, parent in offenders %}
        select
            '{{ model_name }}' as model_name,
            '{{ parent }}' as shopify_dependency
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- else %}
        select
            cast(null as {{ dbt.type_string() }}) as model_name,
            cast(null as {{ dbt.type_string() }}) as shopify_dependency
        where 1 = 0
    {%- endfor %}

)

select * from offenders
