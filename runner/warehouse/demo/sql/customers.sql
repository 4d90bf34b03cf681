-- Customers (_customer): messy and shared e-mails, missing names and phones, every consent state.
-- Reads: getvariable('customer_lo') and getvariable('customer_hi'): the slice of customer numbers
-- this pass writes (runner/demo generates the customers in slices, each row from its number alone).

create temp table _customer as
with base as (
    select
        c,
        1 + floor(u('cf', c) * len(first_names()))::bigint as fi,
        1 + floor(u('cl', c) * len(last_names()))::bigint as li,
        -- a few customer records reuse the address of the previous one (a second account)
        case when c > 0 and u('cshare', c) < 0.04 then c - 1 else c end as mail_c,
        u('cstyle', c) as style,
        u('cage', c) as age,
        u('cstate', c) as us
    from range(getvariable('customer_lo'), getvariable('customer_hi')) as t (c)  -- noqa: AL05
),

mail as (
    select
        *,
        1 + floor(u('cf', mail_c) * len(first_names()))::bigint as mfi,
        1 + floor(u('cl', mail_c) * len(last_names()))::bigint as mli,
        pick(email_domains(), u('cdom', mail_c)) as domain
    from base
),

shaped as (
    select
        *,
        first_names_ascii()[mfi] || '.' || last_names_ascii()[mli] || mail_c::varchar
            as local_part,
        cap(first_names_ascii()[mfi]) || '.' || cap(last_names_ascii()[mli])
        || mail_c::varchar as mixed_local_part
    from mail
)

select
    6000000000000 + c as id,
    case
        when u('cnomail', c) < 0.01 then null
        when style < 0.05 then '  ' || mixed_local_part || '@' || cap(domain) || ' '
        when style < 0.10 then mixed_local_part || '@' || upper(domain)
        when style < 0.12 then upper(local_part || '@' || domain)
        when style < 0.14 then local_part || '@' || domain || ' '
        else local_part || '@' || domain
    end as email,
    first_names()[fi]
    || case
        when u('cemoji', c) < 0.03 then ' ' || pick(emoji(), u('cemo', c))
        else ''
    end as first_name,
    case when u('cnolast', c) < 0.02 then null else last_names()[li] end as last_name,
    case
        when u('cphone', c) < 0.35 then null
        else '+1' || (2000000000 + floor(u('cphn', c) * 7999999999)::bigint)::varchar
    end as phone,
    case
        when us < 0.70 then 'enabled'
        when us < 0.90 then 'disabled'
        when us < 0.97 then 'invited'
        else 'declined'
    end as state,
    ago(floor((age * 1000 + 30) * 86400)) as created_at,
    ago(floor(age * 30 * 86400) + 60) as updated_at,
    u('cverif', c) < 0.85 as verified_email,
    u('cmkt', c) < 0.45 as accepts_marketing,
    case
        when u('cmkt', c) < 0.40 then 'subscribed'
        when u('cmkt', c) < 0.45 then 'pending'
        when u('cmkt', c) < 0.60 then 'unsubscribed'
        else 'not_subscribed'
    end as email_marketing_consent_state,
    case when u('caddr', c) < 0.15 then null else 7000000000000 + c end as default_address_id,
    u('cdel', c) < 0.01 as _fivetran_deleted,
    synced('c', c) as _fivetran_synced
from shaped
order by id
