{#- The meta listrak_feed of a feed mart (name, file_name, key, mode, rejects_model,
    candidates_model, source_model), read from the graph; {} while dbt parses. -#}
{% macro listrak_feed_meta(feed_model) -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ feed_model) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("listrak_feed_meta: no model named " ~ feed_model) }}
    {%- endif -%}
    {{ return((node.config.meta or {}).get('listrak_feed') or (node.meta or {}).get('listrak_feed') or {}) }}
{%- endmacro %}

{#- The relation of a model of this project named in meta, from the graph rather than ref(), so
    a test can read models its YAML does not name. Only for models upstream of the test's own
    model: dbt orders the build by refs, and these are not refs. -#}
{% macro listrak_model_relation(model_name) -%}
    {%- if not execute -%}
        {{ return('(select 1)') }}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ (model_name or '')) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("listrak_model_relation: no model named " ~ model_name ~ " (check the feed mart's meta listrak_feed)") }}
    {%- endif -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias or node.name)) }}
{%- endmacro %}
