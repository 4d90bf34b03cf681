{#- The `source` CTE body of a Shopify staging model: the columns its source table declares in
    YAML (models/staging/shopify*/_*__sources.yml), read by name from the table as the connector
    actually landed it. The table's columns are read when the model compiles
    (adapter.get_columns_in_relation), because connector versions and the REST and GraphQL APIs
    land different column sets:
    - a column with config.meta.required that the table lacks stops the build with one message
      naming the table and the column (the runner turns it into exit 2);
    - any other column the table lacks becomes a null of its declared data_type, the way
      Fivetran's own packages fill staging columns;
    - Fivetran history-mode tables (_fivetran_active present) keep only the active version of
      each row, so history does not duplicate rows;
    - with drop_deleted, rows flagged _fivetran_deleted are left out here: the model is a child
      table (an order's lines, a product's variants) whose deleted rows no later model filters.
    `alternatives` are other names the table has had (Fivetran renamed some GraphQL tables in
    November 2025); the first one present is read when the declared identifier is absent.
    At parse time and in unit tests (the source is then a CTE of fixture rows, whose columns are
    the real table's) every column is selected; when the table is missing (the runner's preflight
    names missing tables first), the declared columns are selected as they are. -#}
{% macro shopify_source_select(source_name, table_name, drop_deleted=false, alternatives=[]) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or relation.is_cte %}
        select * from {{ relation }}
    {%- else -%}

    {%- set declared = shopify_declared_columns(source_name, table_name) -%}
    {%- set api = shopify_api() -%}
    {#- A dict, because a variable set inside a Jinja loop does not outlive the loop. -#}
    {%- set read = {'relation': relation, 'columns': adapter.get_columns_in_relation(relation)} -%}
    {%- for alternative in alternatives -%}
        {%- if not read.columns -%}
            {%- set renamed = adapter.get_relation(relation.database, relation.schema, alternative) -%}
            {%- if renamed is not none -%}
                {%- do read.update({'relation': renamed, 'columns': adapter.get_columns_in_relation(renamed)}) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set relation = read.relation -%}
    {%- set present = {} -%}
    {%- for column in read.columns -%}
        {%- do present.update({column.name | lower: column.name}) -%}
    {%- endfor -%}

    {%- if present -%}
        {%- for column in declared if column.required and column.name not in present -%}
            {{ exceptions.raise_compiler_error(
                "Shopify source: table " ~ relation.schema ~ "." ~ relation.identifier
                ~ " has no column " ~ column.name ~ ", which the feeds cannot do without (source "
                ~ source_name ~ "." ~ table_name ~ ", shopify_api " ~ api ~ "). Load a connector "
                ~ "version that syncs it, or check vars shopify_schema and shopify_api"
            ) }}
        {%- endfor -%}
    {%- endif %}
        select
            {%- for column in declared %}
            {%- if column.name in present or not present %}
            {{ adapter.quote(present.get(column.name, column.name)) }} as {{ column.name }}
            {%- else %}
            cast(null as {{ shopify_column_type(column.data_type) }}) as {{ column.name }}
            {%- endif %}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ relation }}
        {%- set filters = [] -%}
        {%- if '_fivetran_active' in present -%}
            {%- do filters.append(adapter.quote(present['_fivetran_active']) ~ ' = true') -%}
        {%- endif -%}
        {%- if drop_deleted and '_fivetran_deleted' in present -%}
            {%- do filters.append('coalesce(' ~ adapter.quote(present['_fivetran_deleted']) ~ ', false) = false') -%}
        {%- endif -%}
        {%- if filters %}
        where {{ filters | join(' and ') }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The columns a source table declares in YAML, as {name, data_type, required}, in YAML order. -#}
{% macro shopify_declared_columns(source_name, table_name) -%}
    {%- set declared = [] -%}
    {#- The graph is only filled when models compile (and not for unit tests). -#}
    {%- if not execute or graph.sources is not defined -%}
        {{ return(declared) }}
    {%- endif -%}
    {%- set node = graph.sources.get('source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name) -%}
    {%- if node is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error("Shopify source " ~ source_name ~ "." ~ table_name ~ " is not declared or not enabled") }}
        {%- endif -%}
        {{ return(declared) }}
    {%- endif -%}
    {%- for name, column in node.columns.items() -%}
        {%- set meta = (column.config or {}).get('meta') or column.meta or {} -%}
        {%- do declared.append({
            'name': name | lower,
            'data_type': column.data_type or 'string',
            'required': meta.get('required', false),
        }) -%}
    {%- endfor -%}
    {{ return(declared) }}
{%- endmacro %}

{#- The warehouse type for a source column's declared data_type (string, bigint, int, numeric,
    timestamp, boolean), through dbt's cross-database type macros. -#}
{% macro shopify_column_type(data_type) -%}
    {%- set types = {
        'string': dbt.type_string(),
        'bigint': dbt.type_bigint(),
        'int': dbt.type_int(),
        'numeric': dbt.type_numeric(),
        'timestamp': dbt.type_timestamp(),
        'boolean': dbt.type_boolean(),
    } -%}
    {%- if data_type not in types -%}
        {{ exceptions.raise_compiler_error("Shopify source column type " ~ data_type ~ " is not one of " ~ (types.keys() | list | join(', '))) }}
    {%- endif -%}
    {{ return(types[data_type]) }}
{%- endmacro %}

{#- Which Shopify API shape the raw tables have: var shopify_api (rest or graphql). `feeds` sets it
    from the tables it finds when the project leaves it unset; dbt run by hand reads rest then. -#}
{% macro shopify_api() -%}
    {%- set api = (var('shopify_api', 'rest') or 'rest') | string | lower -%}
    {%- if api not in ('rest', 'graphql') -%}
        {{ exceptions.raise_compiler_error("var shopify_api is " ~ api ~ "; set it to rest or graphql (or leave it unset)") }}
    {%- endif -%}
    {{ return(api) }}
{%- endmacro %}
