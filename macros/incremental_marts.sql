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
    values, the subquery over that. Not executing (parsing) or not incremental: the subquery. -#}
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
    {%- set literals = [] -%}
    {%- for key in keys -%}
        {%- if key is string -%}
            {%- do literals.append("'" ~ key | replace("'", "''") ~ "'") -%}
        {%- else -%}
            {%- do literals.append(key | int | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({
        'list': '(' ~ literals | join(', ') ~ ')',
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

{#- A feed mart's affected entities: its rows depend only on its candidates' rows and on which of
    them are quarantined, so it compares those with its own rows, by entity and by feed key (only
    key columns are read):
      - the candidates written after this table's last build (built_at after the newest one
        this table holds; the candidates are built before it in the same invocation, so those
        written with that same built_at were read by it);
      - entities the mart holds that have no candidate any more;
      - candidates neither in the mart nor quarantined (a quarantine was lifted);
      - mart rows whose key is quarantined now. -#}
{% macro feeds_mart_parts(entity, candidates, rejects, key_columns) -%}
    {%- if not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set keys = quoted_columns(key_columns) -%}
    {%- set on_keys -%}
        {%- for key in keys %} mart.{{ key }} = candidates.{{ key }}{{ ' and' if not loop.last }}{% endfor -%}
    {%- endset -%}
    {%- set quarantined = '(select distinct ' ~ keys | join(', ') ~ ', source_id from ' ~ rejects
        ~ " where kind = 'quarantined') as quarantined" -%}
    {{ return([
        'select ' ~ entity ~ ' from ' ~ candidates ~ ' where built_at > ' ~ feeds_last_built_at(),
        'select mart.' ~ entity ~ ' from ' ~ this ~ ' as mart left join (select distinct ' ~ entity ~ ' from '
            ~ candidates ~ ') as candidates on mart.' ~ entity ~ ' = candidates.' ~ entity
            ~ ' where candidates.' ~ entity ~ ' is null',
        'select candidates.' ~ entity ~ ' from ' ~ candidates ~ ' as candidates left join ' ~ this
            ~ ' as mart on' ~ on_keys ~ ' left join ' ~ quarantined
            ~ ' on candidates.source_id = quarantined.source_id'
            ~ ' where mart.' ~ keys[0] ~ ' is null and quarantined.source_id is null',
        'select mart.' ~ entity ~ ' from ' ~ this ~ ' as mart inner join ' ~ quarantined | replace(' as quarantined', ' as candidates')
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
