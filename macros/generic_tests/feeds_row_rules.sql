{#- One test for many row rules of a model: the not_null, max_length, accepted_values, ... tests its
    columns declare (a row passes or fails each on its own values), in one query, one row per rule
    that fails (feeds_rule: the test's name, failing_rows: how many rows fail it).

    The declared tests stay what they are: the contract the rejects macros and the runner read, and
    what `dbt build` runs one by one. `feeds run` and `feeds build` leave out of the build the ones
    this test covers and pass them in var feeds_row_rules ({this test's name: [their unique ids]},
    runner/test_batch.py), so dbt runs one node instead of some twenty a mart: at 1M orders dbt's own
    work is some 20 ms a test node against 2-3 ms for the query. When it fails, the runner runs the
    rules it covers one by one and reports those, as without it. Without the var (`dbt build` by
    hand), it covers the same rules (feeds_row_rule_fits), which also run on their own then.

    Its `model` is scoped as a row-local test's (macros/test_scope.sql): with var feeds_test_scope
    it reads the rows of the latest build, which is sound for each rule it covers, as each is
    row-local; rules whose arguments read other tables or the clock, or that carry their own where,
    limit or thresholds, are not covered. -#}
{% test feeds_row_rules(model) %}
    {{ return(adapter.dispatch('test_feeds_row_rules', 'listrak_feeds')(model)) }}
{% endtest %}

{% macro default__test_feeds_row_rules(model) %}
    {%- set checks = [] -%}
    {%- for rule in feeds_row_rule_members() -%}
        {%- set metadata = rule.test_metadata -%}
        {%- set arguments = {} -%}
        {%- for name, value in (metadata.kwargs or {}).items() if name != 'model' -%}
            {%- do arguments.update({name: value}) -%}
        {%- endfor -%}
        {%- set test_macro = context.get('test_' ~ metadata.name) -%}
        {%- if test_macro is none -%}
            {{ exceptions.raise_compiler_error('feeds_row_rules: no generic test macro test_' ~ metadata.name ~ ' for ' ~ rule.name) }}
        {%- endif -%}
        {%- set check -%}
    select '{{ rule.name }}' as feeds_rule, count(*) as failing_rows
    from (
        {{ test_macro(model=model, **arguments) }}
    ) as feeds_rule_rows
    having count(*) > 0
        {%- endset -%}
        {%- do checks.append(check) -%}
    {%- endfor -%}
    {%- if checks -%}
        {{ checks | join('\n    union all\n') }}
    {%- else -%}
    select 'none' as feeds_rule, 0 as failing_rows where 1 = 0
    {%- endif -%}
{% endmacro %}

{#- The test nodes the feeds_row_rules test being compiled covers (`model` here is that test node: the
    test macro's own `model` argument is the relation). -#}
{% macro feeds_row_rule_members() -%}
    {%- if not execute -%}
        {{ return([]) }}  {#- dbt parses before the graph exists -#}
    {%- endif -%}
    {%- set listed = var('feeds_row_rules', none) -%}
    {%- set members = [] -%}
    {%- if listed is not none -%}
        {%- for unique_id in listed.get(model.name, []) -%}
            {%- if unique_id not in graph.nodes -%}
                {{ exceptions.raise_compiler_error('feeds_row_rules: var feeds_row_rules names ' ~ unique_id ~ ', which is no test of this project') }}
            {%- endif -%}
            {%- do members.append(graph.nodes[unique_id]) -%}
        {%- endfor -%}
        {{ return(members) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.unique_id != model.unique_id
            and node.attached_node == model.attached_node and feeds_row_rule_fits(node) -%}
        {%- do members.append(node) -%}
    {%- endfor -%}
    {{ return(members) }}
{%- endmacro %}

{#- Whether a feeds_row_rules test covers test node `node` of its model; runner/test_batch.py
    decides the same in Python. -#}
{% macro feeds_row_rule_fits(node) -%}
    {%- set metadata = node.get('test_metadata') or {} -%}
    {%- set config = node.get('config') or {} -%}
    {%- if metadata.get('name') not in feeds_test_scope_kinds()['rows'] or metadata.get('name') == 'feeds_row_rules'
            or metadata.get('namespace') or (config.get('severity') or '') | upper != 'ERROR'
            or config.get('where') is not none or config.get('limit') is not none or config.get('store_failures')
            or config.get('fail_calc', 'count(*)') != 'count(*)'
            or config.get('warn_if', '!= 0') != '!= 0' or config.get('error_if', '!= 0') != '!= 0' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- for name, value in (metadata.get('kwargs') or {}).items() if name != 'model' -%}
        {%- if feeds_reads_beyond_row(value) or modules.re.search('(?i)\\{[{%]|\\b(ref|source|var|env_var)\\s*\\(', value | string) -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}
