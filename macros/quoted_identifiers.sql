{#- SQL written with standard double-quoted identifiers, as the YAML's test arguments are (e.g.
    '"SalePrice" <= "Price"', which `feeds validate` runs on a file too), in the engine's own
    identifier quoting: as written on PostgreSQL and DuckDB, in backticks on Spark. -#}
{% macro quoted_identifiers(sql) -%}
    {{ return(adapter.dispatch('quoted_identifiers', 'listrak_feeds')(sql)) }}
{%- endmacro %}

{% macro default__quoted_identifiers(sql) -%}
    {{ return(sql) }}
{%- endmacro %}

{% macro spark__quoted_identifiers(sql) -%}
    {{ return(modules.re.sub('"([^"]*)"', '`\\1`', sql)) }}
{%- endmacro %}

{#- dbt's relationships test with the parent field in the engine's quoting (the YAML writes
    field: '"OrderNumber"'). -#}
{% macro spark__test_relationships(model, column_name, to, field) -%}
    {{ return(dbt.default__test_relationships(model, column_name, to, quoted_identifiers(field))) }}
{%- endmacro %}

{#- Column names, each quoted for the engine (adapter.quote), as a list. -#}
{% macro quoted_columns(names) -%}
    {%- set quoted = [] -%}
    {%- for name in names -%}
        {%- do quoted.append(adapter.quote(name)) -%}
    {%- endfor -%}
    {{ return(quoted) }}
{%- endmacro %}
