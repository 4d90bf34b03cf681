{#- The feed contract of a mart, read from its YAML: columns in order with their contracted
    data_type, and the `max_length`, `not_null` and `email_format` data tests attached to them.
    The YAML stays the single source of truth: the runner reads the same tests from the manifest,
    and the rejects and mart SQL below are generated from it, so a limit is changed in one place.
    Each column's over-length policy (`overlong`) is decided here and nowhere else: a column's
    meta `overlong: quarantine | truncate` when given; otherwise key columns (meta
    listrak_feed.key) and required (not_null) columns quarantine the row, and optional text is
    cut to its maximum, because a cut key or required value would be a wrong value, while a cut
    optional text only loses its tail.
    Internal columns (meta feeds_internal: the entity key and bookkeeping of an incremental mart)
    are no feed columns. Returns [] while dbt parses (the graph is not complete yet). -#}
{% macro listrak_feed_columns(feed_model) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set model_id = 'model.' ~ project_name ~ '.' ~ feed_model -%}
    {%- set node = graph.nodes.get(model_id) -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("listrak_feed_columns: no model named " ~ feed_model) }}
    {%- endif -%}
    {%- set feed_meta = (node.config.meta or {}).get('listrak_feed') or (node.meta or {}).get('listrak_feed') or {} -%}
    {%- set key_columns = feed_meta.get('key') or [] -%}
    {%- set checks = {} -%}
    {%- for test in graph.nodes.values()
            if test.resource_type == 'test' and test.attached_node == model_id and test.column_name -%}
        {%- set test_name = test.test_metadata.name if test.test_metadata else none -%}
        {%- set column_checks = checks.setdefault(test.column_name | replace('"', '') | replace('`', ''), {}) -%}
        {%- if test_name == 'max_length' -%}
            {%- do column_checks.update({'max_length': test.test_metadata.kwargs['length'] | int}) -%}
        {%- elif test_name == 'not_null' -%}
            {%- do column_checks.update({'required': true}) -%}
        {%- elif test_name == 'email_format' -%}
            {%- do column_checks.update({'email': true}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() if not listrak_internal_column(column) -%}
        {%- set column_checks = checks.get(column.name, {}) -%}
        {%- set required = column_checks.get('required', false) -%}
        {%- set column_meta = ((column.get('config') or {}).get('meta') or {}) -%}
        {%- set overlong = column_meta.get('overlong') or (column.get('meta') or {}).get('overlong') -%}
        {%- if overlong is none -%}
            {%- set overlong = 'quarantine' if required or column.name in key_columns else 'truncate' -%}
        {%- elif overlong not in ('quarantine', 'truncate') -%}
            {{ exceptions.raise_compiler_error(
                feed_model ~ "." ~ column.name ~ ": meta overlong must be quarantine or truncate, not " ~ overlong) }}
        {%- endif -%}
        {%- do columns.append({
            'name': column.name,
            'data_type': column.data_type,
            'max_length': column_checks.get('max_length'),
            'required': required,
            'email': column_checks.get('email', false),
            'overlong': overlong,
        }) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- A mart column the runner never exports: meta feeds_internal (column config meta or meta). -#}
{% macro listrak_internal_column(column) -%}
    {%- set internal = ((column.get('config') or {}).get('meta') or {}).get('feeds_internal')
        or (column.get('meta') or {}).get('feeds_internal') -%}
    {{ return(true if internal else false) }}
{%- endmacro %}
