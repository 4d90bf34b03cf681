{#- The feed contract of a mart, read from its YAML: columns in order with their contracted
    data_type, and the `max_length`, `not_null` and `email_format` data tests attached to them.
    The YAML stays the single source of truth: the runner reads the same tests from the manifest,
    and the rejects and mart SQL below are generated from it, so a limit is changed in one place.
    Returns [] while dbt parses (the graph is not complete yet). -#}
{% macro listrak_feed_columns(feed_model) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set model_id = 'model.' ~ project_name ~ '.' ~ feed_model -%}
    {%- set node = graph.nodes.get(model_id) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("listrak_feed_columns: no model named " ~ feed_model) }}
    {%- endif -%}
    {%- set checks = {} -%}
    {%- for test in graph.nodes.values()
            if test.resource_type == 'test' and test.attached_node == model_id and test.column_name -%}
        {%- set test_name = test.test_metadata.name if test.test_metadata else none -%}
        {%- set column_checks = checks.setdefault(test.column_name | replace('"', ''), {}) -%}
        {%- if test_name == 'max_length' -%}
            {%- do column_checks.update({'max_length': test.test_metadata.kwargs['length'] | int}) -%}
        {%- elif test_name == 'not_null' -%}
            {%- do column_checks.update({'required': true}) -%}
        {%- elif test_name == 'email_format' -%}
            {%- do column_checks.update({'email': true}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- set column_checks = checks.get(column.name, {}) -%}
        {%- do columns.append({
            'name': column.name,
            'data_type': column.data_type,
            'max_length': column_checks.get('max_length'),
            'required': column_checks.get('required', false),
            'email': column_checks.get('email', false),
        }) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
