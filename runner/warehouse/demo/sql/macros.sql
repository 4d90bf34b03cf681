-- Helpers for the generator. Inputs come from DuckDB variables that runner/demo sets before the
-- scripts run: seed, as_of (timestamp), n_orders, n_customers, n_products, shop_domain.

-- u(salt, row) is a uniform draw in [0, 1) from the seed, a salt naming the attribute and the row
-- number, so rows are independent of thread count and order. hash() of several values combines
-- their hashes cheaply, which leaves the top bits of u('a', i) and u('b', i) strongly
-- correlated; hashing the result again decorrelates them.
create or replace temp macro u(k, i) as (hash(hash(getvariable('seed')::bigint, k, i)) >> 11) / 9007199254740992.0;
create or replace temp macro u2(k, i, j) as (
    (hash(hash(getvariable('seed')::bigint, k, i, j)) >> 11) / 9007199254740992.0
);
create or replace temp macro h2(k, i, j) as hash(hash(getvariable('seed')::bigint, k, i, j));
create or replace temp macro pick(lst, x) as lst[1 + floor(x * len(lst))::bigint];

-- Time runs backwards from as_of, so the same as_of gives the same timestamps.
create or replace temp macro ago(secs) as (getvariable('as_of') - to_seconds(greatest(secs, 0)::bigint));
create or replace temp macro clamp_ts(t) as least(t, getvariable('as_of') - interval 1 minute);
-- _fivetran_synced: up to half an hour before as_of
create or replace temp macro synced(k, i) as (
    getvariable('as_of') - to_seconds(floor(u(k || '_sync', i) * 1800)::bigint)
);

create or replace temp macro cap(s) as upper(left(s, 1)) || substr(s, 2);
create or replace temp macro money(x) as round(x, 2)::decimal(18, 2);
create or replace temp macro slug(s) as trim(regexp_replace(lower(strip_accents(s)), '[^a-z0-9]+', '-', 'g'), '-');
