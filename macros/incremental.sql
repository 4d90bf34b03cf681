{#- Incremental builds (README "Incremental builds"). The heavy intermediate models keep their rows
    between builds and, on an incremental build, recompute only the entities (orders, customers,
    products) with a source row synced after their newest build's watermark minus
    var incremental_lookback_hours (late-arriving rows). Each such model:
      - reads the changes of its entity from an int_*_changes_conformed view through feeds_changes();
      - recomputes the rows of the changed entities (and of the keys its table holds for them, so
        a row that moved to another key or left the feed is found);
      - ends with feeds_incremental_select(): its rows plus, on an incremental build, one tombstone
        row per affected key. The feeds_replace strategy then deletes every key of the new rows
        and inserts all but the tombstones, so an entity whose rows vanished loses them.
    Rows carry synced_watermark (the newest synced_at the build saw), built_at (when the dbt
    invocation that wrote them started: a model downstream reads the rows written after its own
    last build) and is_tombstone (always false in the table). -#}

{#- The config of an incremental model keyed by `unique_key`, per target: the one place that says
    which materialization and strategy each warehouse gets. The tag tells the runner
    (runner/incremental.py) which models to fingerprint and record. -#}
{% macro feeds_incremental(unique_key) -%}
    {{ return(adapter.dispatch('feeds_incremental')(unique_key)) }}
{%- endmacro %}

{% macro default__feeds_incremental(unique_key) -%}
    {#- on_schema_change fail: the tombstone rows follow the table's columns; the runner
        full-refreshes a model whose definition changed before dbt would get here. -#}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'feeds_replace',
        'unique_key': unique_key,
        'on_schema_change': 'fail',
        'tags': ['feeds_incremental'],
    }) }}
{%- endmacro %}

{% macro spark__feeds_incremental(unique_key) -%}
    {#- dbt-spark on plain Parquet tables (no Delta or Iceberg) offers append and insert_overwrite
        only; neither can delete the rows of one key. Rebuilt whole every time (Databricks:
        see README "Run on your warehouse"). -#}
    {{ return({'materialized': 'table', 'tags': ['feeds_incremental']}) }}
{%- endmacro %}

{#- The custom strategy (incremental_strategy='feeds_replace'; dbt resolves it to this macro):
    delete every key present in the new rows, tombstones included, then insert the rows that are
    not tombstones. dbt's delete+insert would leave the rows of keys that have no new row. -#}
{% macro get_incremental_feeds_replace_sql(arg_dict) -%}
    {{ return(adapter.dispatch('feeds_replace_sql')(arg_dict)) }}
{%- endmacro %}

{% macro default__feeds_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
delete from {{ target }}
where {{ key }} in (select {{ key }} from {{ temp }});

insert into {{ target }} ({{ columns }})
select {{ columns }} from {{ temp }}
where not is_tombstone
{%- endmacro %}

{% macro postgres__feeds_replace_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
{#- A join on the distinct keys: Postgres plans `in (subquery)` over a large target poorly. #}
delete from {{ target }} as target_rows
using (select distinct {{ key }} from {{ temp }}) as affected
where target_rows.{{ key }} = affected.{{ key }};

insert into {{ target }} ({{ columns }})
select {{ columns }} from {{ temp }}
where not is_tombstone
{%- endmacro %}

{#- The rows of a change view (int_*_changes_conformed) an incremental build must recompute: all
    rows on a full build (they give the watermark), on an incremental one those synced after the
    newest watermark in the model's table minus var incremental_lookback_hours. The bound is read
    first and written into the SQL as a constant, so the warehouse prunes by it. -#}
{% macro feeds_changes(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where synced_at > {{ feeds_changed_after() }}
    {%- endif %}
{%- endmacro %}

{% macro feeds_changed_after() -%}
    {%- set lookback = var('incremental_lookback_hours', 3) | int -%}
    {%- set newest = none -%}
    {%- if execute -%}
        {%- set result = run_query('select max(synced_watermark) from ' ~ this) -%}
        {%- set newest = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        {#- No watermark (empty table, or parsing): everything counts as changed. -#}
        {%- set bound = '1900-01-01 00:00:00' -%}
    {%- else -%}
        {%- if newest is string -%}
            {%- set newest = modules.datetime.datetime.fromisoformat(newest) -%}
        {%- endif -%}
        {%- set bound = (newest - modules.datetime.timedelta(hours=lookback)).strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- endif -%}
    cast('{{ bound }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The last select of an incremental model: `rows` (a CTE of its final rows) with is_tombstone and
    synced_watermark (newest synced_at of the CTE `changes`), and on an incremental build one
    tombstone per key of `affected` (a CTE or subquery with a column named `key`), built from the
    table's own columns so that both branches line up. -#}
{% macro feeds_incremental_select(rows, key, affected, changes='changes') -%}
    select
        {{ rows }}.*,
        false as is_tombstone,
        (select max(synced_at) from {{ changes }}) as synced_watermark,
        {{ feeds_built_at() }} as built_at
    from {{ rows }}
    {%- if is_incremental() %}
    union all
    select
        {%- for column in adapter.get_columns_in_relation(this) %}
        {%- if column.name | lower == key %}
        affected.{{ key }}
        {%- elif column.name | lower == 'is_tombstone' %}
        true
        {%- else %}
        cast(null as {{ column.data_type }})
        {%- endif %} as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
        {%- endfor %}
    from (select distinct {{ key }} from {{ affected }}) as affected
    {%- endif %}
{%- endmacro %}

{#- The `column` values of a change view that an incremental build recomputes, as a SQL list for
    `in`: read first and written into the SQL as constants, so that the warehouse filters the raw
    tables before the joins and cleaning in the views above them (a subquery is applied after them,
    over every row). Over `limit` keys, the subquery. -#}
{% macro feeds_changed_keys(relation, column, limit=20000) -%}
    {%- set changed = 'from ' ~ relation ~ ' where synced_at > ' ~ feeds_changed_after() ~ ' and ' ~ column ~ ' is not null' -%}
    {%- set keys = [] -%}
    {%- if execute -%}
        {%- set keys = run_query('select distinct ' ~ column ~ ' ' ~ changed ~ ' limit ' ~ (limit + 1)).columns[0].values() -%}
    {%- endif -%}
    {%- if not execute or keys | length > limit -%}
        {{ return('(select ' ~ column ~ ' ' ~ changed ~ ')') }}
    {%- elif not keys -%}
        {{ return('(null)') }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for key in keys -%}
        {%- do literals.append(key | int | string) -%}
    {%- endfor -%}
    {{ return('(' ~ literals | join(', ') ~ ')') }}
{%- endmacro %}

{#- When this dbt invocation started (run_started_at, UTC), as a timestamp constant: the built_at
    of every row an incremental model writes in it. -#}
{% macro feeds_built_at() -%}
    cast('{{ run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
