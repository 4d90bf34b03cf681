{#- Incremental marts and rejects (README "Incremental builds"). Like the intermediate models
    (macros/incremental.sql) they keep their rows between builds, keyed by the feed's entity (order
    id, customer key, product id), and an incremental build recomputes a set of affected entities.
    The set is read first (feeds_affected) and written into the SQL as constants, so the warehouse
    reads only those entities' rows from the candidate and source relations.

    Thresholds, duplicate keys and the quarantine stay whole-feed: a key shared by two candidates
    is found over the whole candidate table (a key-only aggregate), and every entity holding such
    a key, or holding a duplicate_key reject from an earlier build, is recomputed. -#}

{#- The affected entities of an incremental build: the distinct values of the union of `parts`
    (SQL selects of one column named `entity`). Returns {'list': SQL for `in`, 'relation': a
    relation with one column `entity` for feeds_incremental_select}: constants up to `limit`
    values (feeds_key_literals, feeds_in_list), the subquery over that or when a key holds a
    backslash. Not executing (parsing) or not incremental: the subquery. -#}
{% macro feeds_affected(entity, parts, limit=20000) -%}
    {%- set union -%}
        select distinct {{ entity }} from (
        {%- for part in parts %}
            {{ part }}
            {%- if not loop.last %}
            union all
            {%- endif %}
        {%- endfor %}
        ) as affected_parts
        where {{ entity }} is not null
    {%- endset -%}
    {%- set subquery = {
        'list': '(' ~ union ~ ')',
        'relation': '(' ~ union ~ ') as affected_keys',
    } -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set keys = run_query(union ~ ' limit ' ~ (limit + 1)).columns[0].values() -%}
    {%- if keys | length > limit -%}
        {{ return(subquery) }}
    {%- elif not keys -%}
        {{ return({
            'list': '(null)',
            'relation': '(select ' ~ entity ~ ' from ' ~ this ~ ' where 1 = 0) as affected_keys',
        }) }}
    {%- endif -%}
    {%- set literals = feeds_key_literals(keys) -%}
    {%- if literals is none -%}
        {{ return(subquery) }}
    {%- endif -%}
    {{ return({
        'list': feeds_in_list(literals),
        'relation': '(values (' ~ literals | join('), (') ~ ')) as affected_keys (' ~ entity ~ ')',
    }) }}
{%- endmacro %}

{#- The newest built_at of this model's table (when the last build that wrote a row started), as
    a timestamp constant; the earliest one when the table is empty. -#}
{% macro feeds_last_built_at() -%}
    {%- set newest = none -%}
    {%- if execute and is_incremental() -%}
        {%- set newest = run_query('select max(built_at) from ' ~ this).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if newest is none -%}
        cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {%- if newest is not string -%}
            {%- set newest = newest.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
        {%- endif -%}
        cast('{{ newest }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- The parts of a rejects model's affected entities every feed shares (entity column `entity` in
    both the candidates and this table):
      - the candidates the candidate model wrote after this table's last build (built_at after
        the newest one this table holds): a candidate recomputed for a reason this model cannot
        see, such as a customer's order;
      - every candidate whose feed key is shared now by a candidate written since (a key becomes
        shared only when a row with it is written; only those keys are counted, over the whole
        candidate table), and every entity with a duplicate_key reject from an earlier build (a
        key that stopped being shared). -#}
{% macro feeds_rejects_parts(entity, candidates, key_columns) -%}
    {%- if not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set keys = quoted_columns(key_columns) -%}
    {%- set last_built = feeds_last_built_at() -%}
    {%- set parts = [
        'select ' ~ entity ~ ' from ' ~ candidates ~ ' where built_at > ' ~ last_built,
        'select ' ~ entity ~ ' from ' ~ this ~ " where reject_reason = 'duplicate_key'",
    ] -%}
    {%- set shared -%}
        select candidates.{{ entity }}
        from {{ candidates }} as candidates
        inner join (
            select
                {%- for key in keys %}
                keyed.{{ key }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ candidates }} as keyed
            inner join (
                select distinct {{ keys | join(', ') }} from {{ candidates }}
                where built_at > {{ last_built }}
            ) as rewritten
                on
                {%- for key in keys %}
                keyed.{{ key }} = rewritten.{{ key }}{{ ' and' if not loop.last }}
                {%- endfor %}
            group by
                {%- for key in keys %}
                keyed.{{ key }}{{ ',' if not loop.last }}
                {%- endfor %}
            having count(*) > 1
        ) as shared_keys
            on
            {%- for key in keys %}
            candidates.{{ key }} = shared_keys.{{ key }}{{ ' and' if not loop.last }}
            {%- endfor %}
    {%- endset -%}
    {%- do parts.append(shared) -%}
    {{ return(parts) }}
{%- endmacro %}

{#- A feed mart's affected entities, as feeds_affected returns them. A mart's rows depend only on
    its candidates' rows and on which of them are quarantined, so they change only where:
      - the candidate model wrote rows after this table's last build (built_at after the newest
        one this table holds; the candidates are built before it in the same invocation, so
        those written with that same built_at were read by it);
      - the rejects model wrote rows after it (a quarantine imposed, changed or lifted on an
        entity that still has reject rows, and every source entity no longer a candidate that
        it records as excluded, such as a deleted order);
      - an entity left the candidates without a trace in either (a customer's e-mail changed), or
        a quarantine was lifted on an entity left with no reject row (a duplicate key resolved by
        a change to the other candidate).
    The first two are read from the rows written since, in proportion to what changed. The last
    two leave no row to read: outside the entities found, this table must hold exactly the
    candidates that are not quarantined now, so feeds_mart_differing_buckets compares the two by
    bucket of the entity's hash (streaming aggregates), and only the entities of the buckets that
    differ have their keys compared (feeds_mart_parts with `buckets`). -#}
{% macro feeds_mart_affected(entity, candidates, rejects, key_columns) -%}
    {%- set parts = feeds_mart_parts(entity, candidates, rejects, key_columns) -%}
    {%- set affected = feeds_affected(entity, parts) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(affected) }}
    {%- endif -%}
    {%- set buckets = feeds_mart_differing_buckets(entity, candidates, rejects, affected.relation) -%}
    {%- if not buckets -%}
        {{ return(affected) }}
    {%- endif -%}
    {%- do log(this ~ ': ' ~ buckets | length ~ ' of ' ~ feeds_entity_buckets() ~ ' entity buckets differ from'
        ~ ' the candidates outside the entities written since its last build; comparing their keys') -%}
    {{ return(feeds_affected(entity, parts + feeds_mart_parts(entity, candidates, rejects, key_columns, buckets))) }}
{%- endmacro %}

{#- The buckets of the entity's hash (feeds_entity_bucket) in which this mart's rows outside the
    entities `affected` (a relation named affected_keys, from feeds_affected: an anti-join, as
    `not in` a long list of constants is slow) differ from the candidates that are not
    quarantined, by count or by sum of the hash: a row too many (an entity that left the
    candidates) or too few (a lifted quarantine) shows unless hashes cancel out exactly. Streaming
    scans of the entity and source_id columns; only the quarantined source_ids and one row per
    bucket are held in memory. ['all'] where the warehouse has no feeds_entity_hash. -#}
{% macro feeds_mart_differing_buckets(entity, candidates, rejects, affected) -%}
    {%- if not feeds_entity_hash('entity') -%}
        {{ return(['all']) }}
    {%- endif -%}
    {%- set query -%}
        with

        mart_rows as (

            select {{ feeds_entity_hash('cast(mart.' ~ entity ~ ' as ' ~ dbt.type_string() ~ ')') }} as entity_hash
            from {{ this }} as mart
            left join {{ affected }}
                on mart.{{ entity }} = affected_keys.{{ entity }}
            where affected_keys.{{ entity }} is null

        ),

        candidate_rows as (

            select {{ feeds_entity_hash('cast(candidates.' ~ entity ~ ' as ' ~ dbt.type_string() ~ ')') }} as entity_hash
            from {{ candidates }} as candidates
            left join (
                select distinct source_id from {{ rejects }}
                where kind = 'quarantined'
            ) as rejected
                on candidates.source_id = rejected.source_id
            left join {{ affected }}
                on candidates.{{ entity }} = affected_keys.{{ entity }}
            where rejected.source_id is null and affected_keys.{{ entity }} is null

        ),

        {%- for side in ['mart', 'candidate'] %}

        {{ side }}_buckets as (

            select
                entity_hash % {{ feeds_entity_buckets() }} as bucket,
                count(*) as row_count,
                sum(entity_hash) as hash_sum
            from {{ side }}_rows
            group by entity_hash % {{ feeds_entity_buckets() }}

        ){{ ',' if loop.first }}
        {%- endfor %}

        select coalesce(mart_buckets.bucket, candidate_buckets.bucket) as bucket
        from mart_buckets
        full outer join candidate_buckets
            on mart_buckets.bucket = candidate_buckets.bucket
        where
            mart_buckets.row_count is distinct from candidate_buckets.row_count
            or mart_buckets.hash_sum is distinct from candidate_buckets.hash_sum
        order by bucket
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | map('int') | list) }}
{%- endmacro %}

{#- How many buckets feeds_mart_differing_buckets splits a mart's entities into. -#}
{% macro feeds_entity_buckets() -%}
    {{ return(16384) }}
{%- endmacro %}

{#- hash(`expression`, a string) as an integer whose sum cannot overflow, or '' where this
    warehouse has none (a mart then compares the keys of all its entities). -#}
{% macro feeds_entity_hash(expression) -%}
    {{ return(adapter.dispatch('feeds_entity_hash')(expression)) }}
{%- endmacro %}

{% macro default__feeds_entity_hash(expression) -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__feeds_entity_hash(expression) -%}
    {#- hash() is a UBIGINT; sum() of it is a HUGEINT. -#}
    {{ return('hash(' ~ expression ~ ')') }}
{%- endmacro %}

{% macro postgres__feeds_entity_hash(expression) -%}
    {#- hashtextextended() is a bigint; sum() of it is a numeric. -#}
    {{ return('hashtextextended(' ~ expression ~ ', 0)') }}
{%- endmacro %}

{#- The parts of a mart's affected entities (see feeds_mart_affected): the candidates and the
    rejects written after this table's last build; with `buckets` (from
    feeds_mart_differing_buckets; ['all'] for every entity), those found by comparing key
    columns among the entities in those buckets:
      - entities the mart holds that have no candidate any more;
      - candidates neither in the mart nor quarantined (a quarantine was lifted);
      - mart rows whose key is quarantined now;
    comparing rows of one entity by key. -#}
{% macro feeds_mart_parts(entity, candidates, rejects, key_columns, buckets=none) -%}
    {%- if not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if not buckets -%}
        {%- set last_built = feeds_last_built_at() -%}
        {{ return([
            'select ' ~ entity ~ ' from ' ~ candidates ~ ' where built_at > ' ~ last_built,
            'select ' ~ entity ~ ' from ' ~ rejects ~ ' where built_at > ' ~ last_built,
        ]) }}
    {%- endif -%}
    {%- set rows = {} -%}
    {%- for name, relation in [('mart', this), ('candidates', candidates), ('rejects', rejects)] -%}
        {%- if buckets == ['all'] -%}
            {%- do rows.update({name: '(select * from ' ~ relation ~ ')'}) -%}
        {%- else -%}
            {%- do rows.update({name: '(select * from ' ~ relation ~ ' where '
                ~ feeds_entity_hash('cast(' ~ entity ~ ' as ' ~ dbt.type_string() ~ ')') ~ ' % ' ~ feeds_entity_buckets()
                ~ ' in (' ~ buckets | join(', ') ~ '))'}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set keys = quoted_columns(key_columns) -%}
    {%- set on_keys -%}
        {%- for key in [entity] + keys %} mart.{{ key }} = candidates.{{ key }}{{ ' and' if not loop.last }}{% endfor -%}
    {%- endset -%}
    {%- set quarantined = '(select distinct ' ~ ([entity] + keys) | join(', ') ~ ', source_id from ' ~ rows.rejects
        ~ " as reject_rows where kind = 'quarantined')" -%}
    {{ return([
        'select mart.' ~ entity ~ ' from ' ~ rows.mart ~ ' as mart left join (select distinct ' ~ entity ~ ' from '
            ~ rows.candidates ~ ' as candidate_rows) as candidates on mart.' ~ entity ~ ' = candidates.' ~ entity
            ~ ' where candidates.' ~ entity ~ ' is null',
        'select candidates.' ~ entity ~ ' from ' ~ rows.candidates ~ ' as candidates left join ' ~ rows.mart
            ~ ' as mart on' ~ on_keys ~ ' left join ' ~ quarantined ~ ' as quarantined'
            ~ ' on candidates.source_id = quarantined.source_id'
            ~ ' where mart.' ~ keys[0] ~ ' is null and quarantined.source_id is null',
        'select mart.' ~ entity ~ ' from ' ~ rows.mart ~ ' as mart inner join ' ~ quarantined ~ ' as candidates'
            ~ ' on' ~ on_keys,
    ]) }}
{%- endmacro %}

{#- The part of the affected entities a change view gives: its `column` (as `entity`) of the rows
    synced after this table's bound (feeds_changed_after); [] on a full build. -#}
{% macro feeds_changed_part(relation, column, entity) -%}
    {%- if not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(['select ' ~ column ~ ' as ' ~ entity ~ ' from ' ~ relation ~ ' where synced_at > ' ~ feeds_changed_after()]) }}
{%- endmacro %}
