{#- The body of a conformed model: the given columns of int_<source>__<entity> for every commerce
    source in var commerce_sources, one union all branch each. A new source (a second Shopify API,
    another platform) brings its own staging folder and its int_<source>__<entity> models with these
    columns, and joins the list; nothing after the conformed layer changes. Sources must keep their
    ids apart (e.g. no two platforms' order ids may collide) when more than one is listed. -#}
{% macro conformed_union(entity, columns) -%}
    {%- for source in var('commerce_sources') %}
    select
        {%- for column in columns %}
        {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('int_' ~ source ~ '__' ~ entity) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
