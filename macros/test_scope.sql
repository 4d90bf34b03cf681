{#- Scoped data tests (README "Incremental builds"). With var feeds_test_scope = 'changed', which
    the runner passes only when the previous build on this warehouse passed every test with the
    same test definitions and selection (runner/test_scope.py), a generic test on an incremental
    model (materialized incremental, strategy feeds_replace, so its rows carry built_at: when the
    dbt invocation that wrote them started) reads only what this build can have changed:
      - a row-local test (a row passes or fails on its own values) reads the rows with the newest
        built_at, every row the latest build that wrote any wrote (in a `dbt build`, this one: a
        build that recomputes nothing reads the last one's rows again); the other rows passed
        the same test in an earlier build and have not changed since. (Not the newest
        synced_watermark: after a full build every row has it, and a build with nothing newly
        synced would test them all again.)
      - a key test (unique, listrak_unique_combination) reads the rows whose key occurs among those
        newest rows, so a changed row that duplicates an unchanged one still fails.
    A model the runner rebuilds whole in this build (var feeds_test_whole) is tested whole: every
    row is new, and the key tests' scoped form would hold all its keys at once.
    A `unique` test on a view the build keeps as it is (staging and conformed views over the raw
    tables) whose config.meta.feeds_test_scope names a change view and a key column (e.g.
    {changes: int_order_changes_conformed, key: order_id}) reads the rows sharing their value with a
    row of the entities synced since the incremental models' last build (minus the lookback): the
    runner reads those entities' keys from the change view and passes them in var
    feeds_test_scope_views, {view: {column, keys}}. A duplicate needs a changed row (Fivetran stamps
    every row it writes), and the changed row's entity is in the change view, as the incremental
    models rely on (late rows with an older sync time: the same lookback); rows without a key (null)
    are always read. Only views whose id can repeat through their own rows carry the meta: the
    staging views (one raw row each) and the conformed orders, customers and variants; a view whose
    join can repeat an id without a changed row of its entity (order lines with a variant, products
    with the shop or collections) stays whole.
    Every other test reads whole tables: relationship tests (a parent row can vanish under an
    unchanged child), counts over a whole table (rejects_within_threshold,
    feed_accounts_for_every_row), singular tests, and any other test on a view or table. A test whose
    arguments hold a subquery or a clock (current_date, now()) is not row-local and stays whole.
    dbt wraps the `model` argument of every generic test in get_where_subquery (dispatched in the
    dbt namespace, so this project's default__ comes first); dbt's `where` config is kept. -#}

{#- The tests scoped, by kind: runner/test_scope.py reads this list from the manifest, so the runner
    and dbt agree on which warnings of a build concern a scoped test. -#}
{% macro feeds_test_scope_kinds() -%}
    {{ return({
        'rows': ['feeds_row_rules', 'not_null', 'accepted_values', 'max_length', 'email_format', 'no_html_markup', 'no_line_breaks', 'listrak_accepted_range', 'listrak_expression_is_true', 'value_in_seed'],
        'keys': ['unique', 'listrak_unique_combination'],
    }) }}
{%- endmacro %}

{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {#- Not called while dbt parses: a partial parse then renders tests without this file's other
        macros (dbt 1.11), and there is nothing to scope before the graph exists anyway. -#}
    {%- set scope = feeds_test_scope_filter(relation) if execute else '' -%}
    {%- set conditions = [] -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- if scope -%}
        {%- do conditions.append(scope) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} as feeds_tested where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The condition that scopes the test being compiled (`model` is then the test node) on
    `relation`, or '' when it reads the whole relation. -#}
{% macro feeds_test_scope_filter(relation) -%}
    {%- if var('feeds_test_scope', none) != 'changed' or model.get('resource_type') != 'test' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set metadata = model.get('test_metadata') or {} -%}
    {%- set kinds = feeds_test_scope_kinds() -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- set view = var('feeds_test_scope_views', {}).get(tested.get('name') if tested is not none else '') -%}
    {%- if view and metadata.get('name') == 'unique'
        and (tested.get('alias') or tested.get('name')) | lower == (relation.identifier or '') | lower -%}
        {%- set column = model.get('column_name') or (metadata.get('kwargs') or {}).get('column_name') -%}
        {%- set keys = feeds_literal_keys(view['keys']) -%}
        {%- if column and keys -%}
            {{ return(column ~ ' in (select ' ~ column ~ ' from ' ~ relation ~ ' where ' ~ view['column'] ~ ' in '
                ~ keys ~ ' or ' ~ view['column'] ~ ' is null)') }}
        {%- endif -%}
        {{ return('') }}
    {%- endif -%}
    {%- if tested is none or tested.get('resource_type') != 'model'
        or tested.config.get('materialized') != 'incremental'
        or tested.config.get('incremental_strategy') != 'feeds_replace'
        or (tested.get('alias') or tested.get('name')) | lower != (relation.identifier or '') | lower
        or tested.get('name') in var('feeds_test_whole', []) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set arguments = metadata.get('kwargs') or {} -%}
    {%- for name, value in arguments.items() if name != 'model' -%}
        {%- if feeds_reads_beyond_row(value) -%}
            {{ return('') }}
        {%- endif -%}
    {%- endfor -%}
    {#- The outer rows are feeds_tested (default__get_where_subquery). -#}
    {%- set newest -%}
        built_at = (select max(built_at) from {{ relation }})
    {%- endset -%}
    {%- if metadata.get('name') in kinds['rows'] -%}
        {{ return(newest) }}
    {%- elif metadata.get('name') == 'unique' -%}
        {%- set column = model.get('column_name') or arguments.get('column_name') -%}
        {{ return(column ~ ' in (select ' ~ column ~ ' from ' ~ relation ~ ' where ' ~ newest ~ ')') }}
    {%- elif metadata.get('name') == 'listrak_unique_combination' -%}
        {#- is not distinct from: the test groups null keys together, so a null matches a null. -#}
        {%- set matches = [] -%}
        {%- for column in arguments.get('combination_of_columns') or [] -%}
            {%- set column = quoted_identifiers(column) -%}
            {%- do matches.append('newest.' ~ column ~ ' is not distinct from feeds_tested.' ~ column) -%}
        {%- endfor -%}
        {%- if not matches -%}
            {{ return('') }}
        {%- endif -%}
        {{ return('exists (select 1 from ' ~ relation ~ ' as newest where newest.' ~ newest ~ ' and ' ~ matches | join(' and ') ~ ')') }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- The text columns of what a test reads: a relation, or the subquery get_where_subquery made of
    it (scoped, or dbt's `where` config), whose columns come from the query's result. -#}
{% macro feeds_text_columns(model) -%}
    {%- set names = [] -%}
    {%- if execute -%}
        {%- if model is string -%}
            {%- set columns = get_column_schema_from_query('select * from ' ~ model) -%}
        {%- else -%}
            {%- set columns = adapter.get_columns_in_relation(model) -%}
        {%- endif -%}
        {%- for column in columns if column.is_string() -%}
            {%- do names.append(adapter.quote(column.name)) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names) }}
{%- endmacro %}

{#- Whether a test argument reads beyond the row it tests: a subquery or a clock (current_date,
    now(), localtime). Such a test is not row-local: it is neither scoped nor in a feeds_row_rules
    test (macros/generic_tests/feeds_row_rules.sql). -#}
{% macro feeds_reads_beyond_row(value) -%}
    {{ return(modules.re.search('(?i)\\bselect\\b|current_|\\bnow\\s*\\(|localtime', value | string) is not none) }}
{%- endmacro %}
