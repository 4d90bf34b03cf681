-- feeds_literal_keys (macros/incremental.sql) writes the keys an incremental build recomputes as
-- SQL constants: a text key with a quote must match itself, a number its value, and an empty list
-- nothing. Returns one row per key the written list does not match as it should.
with

text_keys as (

    select 'o''brien@example.com' as listed_key
    union all
    select 'plain@example.com' as listed_key

),

mismatches as (

    select text_keys.listed_key
    from text_keys
    where text_keys.listed_key not in {{ feeds_literal_keys(["o'brien@example.com", "plain@example.com"]) }}
    union all
    select cast(42 as {{ dbt.type_string() }}) as listed_key
    where 42 not in {{ feeds_literal_keys([42]) }}
    union all
    select 'empty list' as listed_key
    where 1 in {{ feeds_literal_keys([]) }}
    union all
    -- A backslash is an escape in some warehouses' literals: no list, the caller uses a subquery.
    select 'backslash' as listed_key
    where '{{ feeds_literal_keys(["a\\b"]) }}' != ''

)

select * from mismatches
