"""Generate a deterministic demo Shopify store in DuckDB, in the shape an EL tool lands it.

Everything is computed in DuckDB SQL from `range()` and hashes of (seed, salt, row number), so the
same seed (and the same `as_of`) gives identical tables whatever the thread count, and a million
orders take seconds. The data deliberately contains the awkward cases the feed models must handle:
delimiters, quotes, line breaks and tabs in titles, HTML in descriptions, non-ASCII and emoji,
messy and shared e-mails, guest orders, cancellations, refunds, split fulfillments, odd SKUs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from runner.errors import ConfigError

#: Every raw table written, in creation order.
TABLES: tuple[str, ...] = (
    "shop",
    "customer",
    "collection",
    "product",
    "product_variant",
    "product_media",
    "media_image",
    "collection_product",
    "product_tag",
    "order",
    "order_line",
    "order_shipping_line",
    "order_discount_code",
    "fulfillment",
    "refund",
    "order_line_refund",
)

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def _lit(value: str) -> str:
    """A SQL string literal; E-style escapes are not used, so only quotes need doubling."""
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


# Word lists. Entries at the same position in the *_ASCII lists are the e-mail-safe spelling.
_FIRST = ["Jane", "John", "Maria", "José", "Zoë", "Björn", "François", "Łukasz", "美咲", "Søren",
          "Renée", "Aisha", "Mohammed", "Olivia", "Liam", "Chloé", "Noah", "Emma", "Ana", "Kenji",
          "Priya", "Lucas", "Sofía", "Mateo", "Grace", "Ethan", "Amélie", "Oliver", "Ingrid", "Wei"]
_FIRST_ASCII = ["jane", "john", "maria", "jose", "zoe", "bjorn", "francois", "lukasz", "misaki",
                "soren", "renee", "aisha", "mohammed", "olivia", "liam", "chloe", "noah", "emma",
                "ana", "kenji", "priya", "lucas", "sofia", "mateo", "grace", "ethan", "amelie",
                "oliver", "ingrid", "wei"]
_LAST = ["Doe", "Smith", "García", "Müller", "O'Brien", "Nguyễn", "Johnson", "Kowalski", "Tanaka",
         "Dubois", "Rossi", "Andersen", "Brown", "Patel", "Silva", "Ødegaard", "Fernández", "Lee",
         "Martin", "Schröder", "Williams", "Kim", "Novák", "Jones", "Taylor", "Wilson", "Çelik",
         "Davis", "Moore", "Clark"]
_LAST_ASCII = ["doe", "smith", "garcia", "mueller", "obrien", "nguyen", "johnson", "kowalski",
               "tanaka", "dubois", "rossi", "andersen", "brown", "patel", "silva", "odegaard",
               "fernandez", "lee", "martin", "schroeder", "williams", "kim", "novak", "jones",
               "taylor", "wilson", "celik", "davis", "moore", "clark"]
# Reserved example domains: demo addresses must never reach a real mailbox.
_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "shop.example.net"]
_EMOJI = ["✨", "🌸", "🎉", "🌿", "🔥", "💎"]
_ADJ = ["Classic", "Everyday", "Vintage", "Organic", "Lightweight", "Premium", "Relaxed", "Slim",
        "Cozy", "Essential", "Heritage", "Modern", "Rugged", "Soft", "Weekend"]
_MATERIAL = ["Cotton", "Linen", "Wool", "Denim", "Leather", "Canvas", "Cashmere", "Bamboo",
             "Merino", "Suede"]
_NOUN = ["Shirt", "Tee", "Chinos", "Jacket", "Scarf", "Tote", "Sneaker", "Beanie", "Hoodie",
         "Dress", "Backpack", "Belt", "Blanket", "Candle", "Mug"]
_UNICODE_WORD = ["Crème Brûlée", "Café Noir", "Zürich", "Naïve", "Tōkyō", "北欧", "Señorita",
                 "Smörgåsbord"]
_VENDOR = ["Northwind Outfitters", "Acme & Sons", "O'Malley Goods", "Café Lumière",
           "Blue Ridge Co.", "Harbor, Field & Co", "Über Basics", "Demo Shop"]
_TYPE = ["Shirts", "Pants", "Outerwear", "Accessories", "Footwear", "Bags", "Home Décor", "Knitwear"]
_SIZE = ["XS", "S", "M", "L", "XL", "XXL"]
_COLOR = ["Black", "Navy", "White", "Heather Grey", "Olive", "Rust", "Sand", "Burgundy"]
_COLLECTIONS = ["Women", "Men", "New Arrivals", "Sale", "Outlet", "Home & Living", "Accessories",
                "Gifts Under $50", "Best Sellers", 'Summer "Essentials"', "Café Collection",
                "Archive"]
_TAGS = ["new", "bestseller", "summer", "winter", "gift", "organic", "Limited Edition", "Sale"]
_SHIP = [("Standard Shipping", "STANDARD", "5.99"), ("UPS Ground", "UPS_GROUND", "9.99"),
         ("USPS Priority Mail", "USPS_PRIORITY", "8.50"), ("FedEx 2Day", "FEDEX_2DAY", "19.99"),
         ("Free Shipping", "FREE", "0.00"), ("Express, Next Day", "EXPRESS", "24.99")]
_CODES = ["WELCOME10", "SUMMER15", "VIP20", "BFCM-2024", "FRIENDS10"]
_CANCEL = ["customer", "fraud", "inventory", "declined", "other"]


def _macros(seed: int, as_of: datetime) -> str:
    ts = as_of.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
-- hash() of several values combines their hashes cheaply, which leaves the top bits of
-- u('a', i) and u('b', i) strongly correlated; hashing the result again decorrelates them.
create or replace temp macro u(k, i) as
    (hash(hash({seed}::bigint, k, i)) >> 11) / 9007199254740992.0;
create or replace temp macro u2(k, i, j) as
    (hash(hash({seed}::bigint, k, i, j)) >> 11) / 9007199254740992.0;
create or replace temp macro h2(k, i, j) as hash(hash({seed}::bigint, k, i, j));
create or replace temp macro pick(lst, x) as lst[1 + floor(x * len(lst))::bigint];
create or replace temp macro ago(secs) as
    (timestamp '{ts}' - to_seconds(greatest(secs, 0)::bigint));
create or replace temp macro clamp_ts(t) as least(t, timestamp '{ts}' - interval 1 minute);
create or replace temp macro cap(s) as upper(left(s, 1)) || substr(s, 2);
create or replace temp macro money(x) as round(x, 2)::decimal(18, 2);
create or replace temp macro slug(s) as
    trim(regexp_replace(lower(strip_accents(s)), '[^a-z0-9]+', '-', 'g'), '-');
create or replace temp macro synced(k, i) as
    (timestamp '{ts}' - to_seconds(floor(u(k || '_sync', i) * 1800)::bigint));
"""


def _customers_sql(n_customers: int) -> str:
    nf, nl = len(_FIRST), len(_LAST)
    return f"""
create temp table _customer as
with base as (
    select
        c,
        1 + floor(u('cf', c) * {nf})::bigint as fi,
        1 + floor(u('cl', c) * {nl})::bigint as li,
        -- a few customer records reuse the address of the previous one (a second account)
        case when c > 0 and u('cshare', c) < 0.04 then c - 1 else c end as mail_c,
        u('cstyle', c) as style,
        u('cage', c) as age,
        u('cstate', c) as us
    from range({n_customers}) as t(c)
),
mail as (
    select
        *,
        1 + floor(u('cf', mail_c) * {nf})::bigint as mfi,
        1 + floor(u('cl', mail_c) * {nl})::bigint as mli,
        pick({_list(_DOMAINS)}, u('cdom', mail_c)) as domain
    from base
),
shaped as (
    select
        *,
        {_list(_FIRST_ASCII)}[mfi] || '.' || {_list(_LAST_ASCII)}[mli] || mail_c::varchar
            as local_part,
        cap({_list(_FIRST_ASCII)}[mfi]) || '.' || cap({_list(_LAST_ASCII)}[mli])
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
    {_list(_FIRST)}[fi]
        || case when u('cemoji', c) < 0.03 then ' ' || pick({_list(_EMOJI)}, u('cemo', c))
        else '' end as first_name,
    case when u('cnolast', c) < 0.02 then null else {_list(_LAST)}[li] end as last_name,
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
"""


def _catalog_sql(n_products: int) -> str:
    colls = _list(_COLLECTIONS)
    return f"""
create temp table _collection as
select
    17000000000000 + k as id,
    {colls}[k + 1] as title,
    slug({colls}[k + 1]) as handle,
    pick(['manual', 'best-selling', 'created-desc', 'alpha-asc', 'price-asc'], u('kso', k))
        as sort_order,
    case when k = 11 then null else ago(86400 * (400 + k * 20)) end as published_at,
    k = 11 as _fivetran_deleted,
    synced('k', k) as _fivetran_synced
from range({len(_COLLECTIONS)}) as t(k)
order by id;

create temp table _product as
with base as (
    select
        p,
        pick({_list(_ADJ)}, u('padj', p)) as adj,
        pick({_list(_MATERIAL)}, u('pmat', p)) as mat,
        pick({_list(_NOUN)}, u('pnoun', p)) as noun,
        pick({_list(_NOUN)}, u('pnoun2', p)) as noun2,
        u('pstat', p) as us,
        u('page', p) as age
    from range({n_products}) as t(p)
),
titled as (
    select
        *,
        case
            when p % 29 = 14 then left(
                adj || ' ' || mat || ' ' || noun || ' with Extra-Long Product Name for '
                || 'Marketplace Search: Breathable, Durable, Machine-Washable, Ethically '
                || 'Sourced, Gift-Ready Packaging Included and a Lifetime Repair Promise', 200)
            when p % 12 = 1 then adj || ' ' || noun || ', ' || mat
            when p % 12 = 2 then 'The "' || adj || '" ' || mat || ' ' || noun
            when p % 12 = 3 then adj || ' ' || noun || chr(13) || chr(10) || mat || ' Edition'
            when p % 12 = 4 then adj || ' ' || mat || chr(9) || noun
            when p % 12 = 5 then adj || ' ' || noun || chr(10) || '(' || mat || ')'
            when p % 12 = 6 then pick({_list(_UNICODE_WORD)}, u('puni', p)) || ' ' || noun
            when p % 12 = 7 then adj || ' ' || noun || ' ' || pick({_list(_EMOJI)}, u('pemo', p))
            when p % 12 = 8 then mat || ' ' || noun || ' & ' || noun2 || ' Men''s Set'
            else adj || ' ' || mat || ' ' || noun
        end as title
    from base
)
select
    8000000000000 + p as id,
    title,
    slug(title) || '-' || p::varchar as handle,
    case
        when p % 9 = 4 then repeat(
            '<p>Our ' || lower(mat) || ' ' || lower(noun) || ' is made to last &amp; made '
            || 'to be worn.&nbsp;It&#39;s cut generously, with reinforced seams.</p>' || chr(10),
            40)
        when p % 5 = 2 then '<div class="rte">' || chr(13) || chr(10)
            || '<p>Meet the <em>' || adj || '</em> ' || noun || ' &mdash; '
            || 'soft, &quot;lived-in&quot; and ready.</p>' || chr(13) || chr(10)
            || '<p>Care:<br/>Wash cold &amp; hang dry.</p></div>'
        else '<p>The ' || lower(adj) || ' ' || lower(noun) || ' in ' || lower(mat)
            || '.&nbsp;It&#39;s <strong>built to last</strong> &amp; easy to love.<br/>'
            || 'Machine wash cold.</p><ul><li>100% ' || mat || '</li><li>Imported</li></ul>'
    end as body_html,
    pick({_list(_VENDOR)}, u('pven', p)) as vendor,
    pick({_list(_TYPE)}, u('ptyp', p)) as product_type,
    case
        when p % 20 = 7 or us < 0.04 then 'archived'
        when p % 20 = 13 or us < 0.07 then 'draft'
        else 'active'
    end as status,
    ago(floor((age * 900 + 60) * 86400)) as created_at,
    ago(floor(age * 50 * 86400) + 300) as updated_at,
    case
        when p % 20 = 13 or (us >= 0.04 and us < 0.07) then null
        else ago(floor((age * 900 + 59) * 86400))
    end as published_at,
    p % 25 = 19 or u('pdel', p) < 0.01 as _fivetran_deleted,
    synced('p', p) as _fivetran_synced,
    -- helpers, dropped on publish
    p,
    1 + floor(u('pnv', p) * 4)::bigint as n_variants,
    (floor(9 + u('pprice', p) * 190) + 0.99) as base_price
from titled
order by id;

create temp table _product_variant as
with expanded as (
    select
        product.p,
        product.id as product_id,
        product.n_variants,
        product.base_price,
        product.created_at as product_created_at,
        product.updated_at as product_updated_at,
        product.status,
        product._fivetran_deleted as product_deleted,
        unnest(range(product.n_variants)) as k
    from _product as product
),
numbered as (
    select
        *,
        row_number() over (order by p, k) - 1 as v
    from expanded
),
shaped as (
    select
        *,
        {_list(_SIZE)}[1 + ((k + floor(u('vsz', p) * 3)::bigint) % {len(_SIZE)})] as size,
        pick({_list(_COLOR)}, u('vcol', p)) as color,
        u('vinv', v) as ui,
        case
            when v % 20 = 3 then 'forced_continue'
            when v % 20 = 7 then 'forced_deny'
            else 'free'
        end as stock_rule
    from numbered
),
priced as (
    select
        *,
        money(base_price + case when k >= 3 then 5 else 0 end) as price,
        case
            when stock_rule <> 'free' then 0
            when ui < 0.12 then 0
            when ui < 0.18 then -1 - floor(u('vneg', v) * 5)::bigint
            else 1 + floor(u('vqty', v) * 250)::bigint
        end as inventory_quantity
    from shaped
),
policied as (
    select
        *,
        case
            when stock_rule = 'forced_continue' then 'continue'
            when stock_rule = 'forced_deny' then 'deny'
            when inventory_quantity <= 0 and u('vpol', v) < 0.25 then 'continue'
            when u('vpol', v) < 0.05 then 'continue'
            else 'deny'
        end as inventory_policy
    from priced
)
select
    9000000000000 + v as id,
    product_id,
    'DS-' || lpad(p::varchar, 6, '0') || '-' || (k + 1)::varchar as sku,
    case
        when n_variants = 1 then 'Default Title'
        when v % 17 = 1 then size || ' / Black, Matte'
        when v % 17 = 2 then '12" / ' || color
        when v % 17 = 3 then size || ' / Sea' || chr(9) || 'Green'
        when v % 17 = 4 then size || ' / Limited' || chr(13) || chr(10) || 'Edition'
        else size || ' / ' || color
    end as title,
    price,
    case
        when v % 10 = 0 or u('vsale', v) < 0.15
            then money(round(price * (1.2 + u('vsalep', v) * 0.3), 0) - 0.01)
        when u('vsale', v) < 0.20 then price
    end as compare_at_price,
    inventory_quantity,
    inventory_policy,
    k + 1 as position,
    case
        when u('vbar', v) < 0.2 then null
        else lpad((floor(u('vbarn', v) * 999999999999)::bigint)::varchar, 12, '0')
    end as barcode,
    status = 'active' and not product_deleted
        and (inventory_quantity > 0 or inventory_policy = 'continue') as available_for_sale,
    product_created_at as created_at,
    greatest(product_updated_at, ago(floor(u('vupd', v) * 20 * 86400) + 120)) as updated_at,
    synced('v', v) as _fivetran_synced,
    v,
    p
from policied
order by id;

create temp table _product_media as
with expanded as (
    select
        product.p,
        product.id as product_id,
        product.handle,
        product.title,
        unnest(range(1 + floor(u('pnm', product.p) * 4)::bigint)) as k
    from _product as product
)
select
    product_id,
    15000000000000 + p * 4 + k as media_id,
    k + 1 as position,
    16000000000000 + p * 4 + k as image_id,
    'https://cdn.shopify.com/s/files/1/0612/3456/7890/files/' || handle || '-'
        || (k + 1)::varchar || '.jpg?v=' || (1700000000 + floor(u('mver', p) * 9999999)::bigint)
        ::varchar as image_url,
    case
        when k = 0 then title
        when u2('malt', p, k) < 0.5 then null
        else 'Detail view ' || (k + 1)::varchar
    end as image_alt_text,
    synced('m', p * 4 + k) as _fivetran_synced
from expanded
order by media_id;

create temp table _collection_product as
with expanded as (
    select
        product.p,
        product.id as product_id,
        floor(u('pcs', product.p) * {len(_COLLECTIONS)})::bigint as start,
        unnest(range(1 + floor(u('pnc', product.p) * 3)::bigint)) as j
    from _product as product
)
select
    17000000000000 + (start + j) % {len(_COLLECTIONS)} as collection_id,
    product_id,
    synced('cp', p * 3 + j) as _fivetran_synced
from expanded
order by product_id, collection_id;

create temp table _product_tag as
with tagged as (
    select
        product.id as product_id,
        product.p,
        list_concat(
            [pick(['gender:women', 'gender:men', 'gender:unisex'], u('tgen', product.p))],
            list_transform(
                range(floor(u('tn', product.p) * 3)::bigint),
                lambda j: {_list(_TAGS)}[
                    1 + (floor(u('ts', product.p) * {len(_TAGS)})::bigint + j) % {len(_TAGS)}]
            ),
            case when product.p % 12 = 3 or u('tclr', product.p) < 0.06
                then ['clearance'] else [] end,
            case when product.p % 12 = 8 or u('tout', product.p) < 0.04
                then ['outlet'] else [] end
        ) as tags
    from _product as product
)
select
    product_id,
    unnest(range(len(tags))) as "index",
    unnest(tags) as value,
    synced('t', p) as _fivetran_synced
from tagged
order by product_id, "index";
"""


def _orders_sql(n_orders: int, n_customers: int, n_variants: int) -> str:
    span = 730 * 86400 / n_orders
    ship = _SHIP
    ship_titles = _list([s[0] for s in ship])
    ship_codes = _list([s[1] for s in ship])
    ship_prices = "[" + ", ".join(s[2] for s in ship) + "]"
    return f"""
create temp table _order_base as
with base as (
    select
        i,
        5000000000000 + i as id,
        ((({n_orders} - i) - u('ot', i)) * {span})::bigint as age_s,
        u('osrc', i) as us,
        u('okind', i) as uk,
        u('oful', i) as uf,
        u('odisc', i) as ud,
        1 + floor(u('onl', i) * 4)::bigint as n_lines,
        floor(pow(u('ocust', i), 1.3) * {n_customers})::bigint as cust_idx,
        floor(u('oship', i) * {len(ship)})::bigint + 1 as ship_k
    from range({n_orders}) as t(i)
)
select
    *,
    case
        when us < 0.06 then 'pos'
        when us < 0.08 then 'shopify_draft_order'
        when us < 0.15 then 'iphone'
        when us < 0.18 then 'android'
        else 'web'
    end as source_name,
    case
        when uk < 0.04 then 'cancelled'
        when age_s < 25 * 86400 then 'normal'
        when uk < 0.07 then 'refunded'
        when uk < 0.12 then 'partially_refunded'
        else 'normal'
    end as money_kind,
    case
        when uk < 0.04 or age_s < 3 * 86400 or uf < 0.04 then 'unfulfilled'
        when uf < 0.10 and n_lines >= 2 then 'partial'
        when uf < 0.16 then 'split'
        when uf < 0.20 then 'cancelled_then_shipped'
        else 'single'
    end as ship_kind,
    n_lines >= 2 and u('odup', i) < 0.04 as dup_sku,
    case
        when ud < 0.14 then 1
        when ud < 0.17 then 2
        else 0
    end as n_codes,
    case when ud < 0.17 then pick([0.10, 0.15, 0.20], u('orate', i)) else 0 end as rate,
    ago(age_s) as created_at
from base
order by i;

create temp table _order_line as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.dup_sku,
        o.rate,
        o.ship_kind,
        o.money_kind,
        unnest(range(o.n_lines)) as j
    from _order_base as o
),
picked as (
    select
        *,
        case
            when dup_sku and j <= 1 then 'normal'
            when u2('lk', i, j) < 0.01 then 'custom'
            when u2('lk', i, j) < 0.02 then 'blank_sku'
            else 'normal'
        end as line_kind,
        floor(u2('lv', i, case when dup_sku and j = 1 then 0 else j end) * {n_variants})::bigint
            as v,
        case
            when u2('lq', i, j) < 0.75 then 1
            when u2('lq', i, j) < 0.93 then 2
            else 3 + floor(u2('lq2', i, j) * 3)::bigint
        end as quantity
    from expanded
),
joined as (
    select
        picked.*,
        variant.id as variant_id,
        variant.product_id,
        variant.sku as variant_sku,
        variant.title as variant_title,
        variant.price as variant_price,
        product.title as product_title,
        product.vendor
    from picked
    inner join _product_variant as variant on picked.v = variant.v
    inner join _product as product on variant.product_id = product.id
)
select
    11000000000000 + i * 4 + j as id,
    order_id,
    j as "index",
    case when line_kind = 'custom' then null else product_id end as product_id,
    case when line_kind = 'custom' then null else variant_id end as variant_id,
    case
        when line_kind = 'custom' then null
        when line_kind = 'blank_sku' then ''
        else variant_sku
    end as sku,
    case
        when line_kind <> 'custom' then product_title
        when u2('lc', i, j) < 0.5 then 'Gift Card'
        else 'Custom Engraving, "Script" font'
    end as title,
    case
        when line_kind = 'custom' or variant_title = 'Default Title' then null
        else variant_title
    end as variant_title,
    case
        when line_kind <> 'custom' and variant_title <> 'Default Title'
            then product_title || ' - ' || variant_title
        when line_kind <> 'custom' then product_title
        when u2('lc', i, j) < 0.5 then 'Gift Card'
        else 'Custom Engraving, "Script" font'
    end as name,
    case when line_kind = 'custom' then 'Demo Shop' else vendor end as vendor,
    case
        when line_kind <> 'custom' then variant_price
        when u2('lc', i, j) < 0.5 then 50.00::decimal(18, 2)
        else 12.50::decimal(18, 2)
    end as price,
    quantity,
    rate,
    case
        when ship_kind = 'unfulfilled' then null
        when ship_kind = 'partial' and j > 0 then null
        else 'fulfilled'
    end as fulfillment_status,
    line_kind = 'custom' and u2('lc', i, j) < 0.5 as gift_card,
    i,
    j,
    money_kind
from joined
order by id;

alter table _order_line add column total_discount decimal(18, 2);
update _order_line set total_discount = money(price * quantity * rate);

create temp table _order_shipping_line as
select
    18000000000000 + i as id,
    id as order_id,
    {ship_titles}[ship_k] as title,
    {ship_codes}[ship_k] as code,
    {ship_prices}[ship_k]::decimal(18, 2) as price,
    case when n_codes = 2 then 0.00 else {ship_prices}[ship_k] end::decimal(18, 2)
        as discounted_price,
    synced('sl', i) as _fivetran_synced
from _order_base
where source_name <> 'pos'
order by id;

create temp table _order_totals as
select
    order_id,
    sum(price * quantity)::decimal(18, 2) as total_line_items_price,
    sum(total_discount)::decimal(18, 2) as total_discounts
from _order_line
group by order_id;

create temp table _fulfillment as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.ship_kind,
        o.created_at,
        o.age_s,
        unnest(range(case when o.ship_kind in ('split', 'cancelled_then_shipped') then 2 else 1 end))
            as k
    from _order_base as o
    where o.ship_kind <> 'unfulfilled'
),
timed as (
    select
        *,
        clamp_ts(created_at + to_seconds(
            floor((0.5 + u2('fdelay', i, k) * 2 + k * 1.5) * 86400)::bigint)) as shipped_at,
        pick(['UPS', 'USPS', 'FedEx', 'DHL Express'], u2('fco', i, k)) as tracking_company
    from expanded
)
select
    14000000000000 + i * 2 + k as id,
    order_id,
    case when ship_kind = 'cancelled_then_shipped' and k = 0 then 'cancelled' else 'success' end
        as status,
    shipped_at as created_at,
    clamp_ts(shipped_at + to_seconds(floor(u2('fupd', i, k) * 4 * 86400)::bigint)) as updated_at,
    tracking_company,
    case
        when u2('fnotrack', i, k) < 0.03 then null
        when tracking_company = 'UPS' then '1Z' || lpad(upper(hex(h2('fups', i, k))), 16, '0')
        when tracking_company = 'USPS' then '9400' || lpad(
            (floor(u2('ftn', i, k) * 1e17)::bigint)::varchar, 18, '0')
        else lpad((floor(u2('ftn', i, k) * 1e12)::bigint)::varchar, 12, '0')
    end as tracking_number,
    'manual' as service,
    case
        when ship_kind = 'cancelled_then_shipped' and k = 0 then null
        when age_s < 6 * 86400 then pick(['label_printed', 'in_transit', 'out_for_delivery'],
            u2('fss', i, k))
        when u2('fss', i, k) < 0.1 then null
        else 'delivered'
    end as shipment_status,
    synced('f', i * 2 + k) as _fivetran_synced,
    i
from timed
order by id;

create temp table _refund as
select
    12000000000000 + o.i as id,
    o.id as order_id,
    clamp_ts(o.created_at + to_seconds(case
        when o.money_kind = 'cancelled' then floor(u('rdelay', o.i) * 6 * 3600)::bigint
        else floor((5 + u('rdelay', o.i) * 18) * 86400)::bigint
    end)) as created_at,
    o.money_kind,
    o.i
from _order_base as o
where o.money_kind in ('refunded', 'partially_refunded')
    or (o.money_kind = 'cancelled' and u('ocvoid', o.i) >= 0.5)
order by id;

create temp table _order_line_refund as
select
    13000000000000 + line.i * 4 + line.j as id,
    refund.id as refund_id,
    line.id as order_line_id,
    case when refund.money_kind = 'partially_refunded' then 1 else line.quantity end as quantity,
    money(
        (line.price - line.price * line.rate)
        * case when refund.money_kind = 'partially_refunded' then 1 else line.quantity end
    ) as subtotal,
    case
        when refund.money_kind = 'cancelled' then 'cancel'
        when u('rrestock', refund.i) < 0.8 then 'return'
        else 'no_restock'
    end as restock_type,
    synced('olr', line.i * 4 + line.j) as _fivetran_synced
from _refund as refund
inner join _order_line as line on refund.i = line.i
where refund.money_kind <> 'partially_refunded' or line.j = 0
order by id;

alter table _order_line_refund add column total_tax decimal(18, 2);
update _order_line_refund set total_tax = money(subtotal * 0.08);

create temp table _order as
with shipping as (
    select order_id, price, discounted_price from _order_shipping_line
),
last_shipped as (
    select order_id, max(created_at) as shipped_at
    from _fulfillment
    where status = 'success'
    group by order_id
),
last_refund as (
    select order_id, max(created_at) as refunded_at from _refund group by order_id
),
assembled as (
    select
        o.*,
        totals.total_line_items_price,
        totals.total_discounts,
        coalesce(shipping.discounted_price, 0) as shipping_price,
        customer.id as customer_id_raw,
        customer.email as customer_email,
        last_shipped.shipped_at,
        last_refund.refunded_at,
        case when o.money_kind = 'cancelled'
            then clamp_ts(o.created_at + to_seconds(floor(u('ocan', o.i) * 5 * 3600)::bigint))
        end as cancelled_at,
        -- guests: half of POS sales and a few web checkouts carry no customer record
        case
            when o.source_name = 'pos' and u('oguest', o.i) < 0.5 then 'anonymous'
            when o.source_name <> 'pos' and u('oguest', o.i) < 0.015 then 'anonymous'
            when o.source_name <> 'pos' and u('oguest', o.i) < 0.04 then 'guest'
            else 'customer'
        end as buyer
    from _order_base as o
    inner join _order_totals as totals on o.id = totals.order_id
    inner join _customer as customer on customer.id = 6000000000000 + o.cust_idx
    left join shipping on o.id = shipping.order_id
    left join last_shipped on o.id = last_shipped.order_id
    left join last_refund on o.id = last_refund.order_id
),
priced as (
    select
        *,
        (total_line_items_price - total_discounts)::decimal(18, 2) as subtotal_price,
        money((total_line_items_price - total_discounts) * 0.08) as total_tax
    from assembled
)
select
    id,
    '#' || (1001 + i)::varchar as name,
    1001 + i as order_number,
    case
        when buyer = 'anonymous' then null
        when buyer = 'guest' then 'guest' || i::varchar || '@example.net'
        else customer_email
    end as email,
    case when buyer = 'customer' then customer_id_raw end as customer_id,
    created_at,
    clamp_ts(greatest(created_at, cancelled_at, shipped_at, refunded_at)
        + to_seconds(floor(u('oupd', i) * 3600)::bigint + 60)) as updated_at,
    created_at as processed_at,
    cancelled_at,
    case when cancelled_at is not null then pick({_list(_CANCEL)}, u('ocr', i)) end
        as cancel_reason,
    case
        when cancelled_at is not null then cancelled_at
        when ship_kind in ('single', 'split', 'cancelled_then_shipped')
            then clamp_ts(shipped_at + interval 1 day)
    end as closed_at,
    case
        when money_kind = 'cancelled' and refunded_at is null then 'voided'
        when money_kind in ('cancelled', 'refunded') then 'refunded'
        when money_kind = 'partially_refunded' then 'partially_refunded'
        when ship_kind = 'unfulfilled' and u('ofin', i) < 0.15 then 'pending'
        when ship_kind = 'unfulfilled' and u('ofin', i) < 0.30 then 'authorized'
        else 'paid'
    end as financial_status,
    case
        when money_kind = 'cancelled' then null
        when ship_kind = 'unfulfilled' then null
        when ship_kind = 'partial' then 'partial'
        else 'fulfilled'
    end as fulfillment_status,
    'USD' as currency,
    subtotal_price,
    total_line_items_price,
    total_discounts,
    total_tax,
    (subtotal_price + total_tax + shipping_price)::decimal(18, 2) as total_price,
    source_name,
    u('otest', i) < 0.01 as test,
    case
        when source_name = 'pos' then null
        when u('ozip', i) < 0.03 then pick(['K1A 0B1', 'M5V 3L9', 'SW1A 1AA'], u('ozc', i))
        when u('ozip', i) < 0.10 then lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
            || '-' || lpad((floor(u('ozn4', i) * 9999)::bigint)::varchar, 4, '0')
        else lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
    end as billing_address_zip,
    case
        when source_name = 'pos' then null
        when u('ozdiff', i) < 0.1 then lpad((floor(u('ozs', i) * 99999)::bigint)::varchar, 5, '0')
        when u('ozip', i) < 0.03 then pick(['K1A 0B1', 'M5V 3L9', 'SW1A 1AA'], u('ozc', i))
        when u('ozip', i) < 0.10 then lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
            || '-' || lpad((floor(u('ozn4', i) * 9999)::bigint)::varchar, 4, '0')
        else lpad((floor(u('ozn', i) * 99999)::bigint)::varchar, 5, '0')
    end as shipping_address_zip,
    u('odel', i) < 0.005 as _fivetran_deleted,
    synced('o', i) as _fivetran_synced
from priced
order by id;

create temp table _order_discount_code as
with expanded as (
    select
        o.i,
        o.id as order_id,
        o.n_codes,
        o.rate,
        totals.total_discounts,
        shipping.price as shipping_price,
        unnest(range(o.n_codes)) as k
    from _order_base as o
    inner join _order_totals as totals on o.id = totals.order_id
    left join _order_shipping_line as shipping on o.id = shipping.order_id
    where o.n_codes > 0
)
select
    order_id,
    k as "index",
    case
        when k = 1 then 'FREESHIP'
        when rate = 0.10 then pick(['WELCOME10', 'FRIENDS10'], u('dc', i))
        when rate = 0.15 then 'SUMMER15'
        else pick(['VIP20', 'BFCM-2024'], u('dc', i))
    end as code,
    case when k = 1 then coalesce(shipping_price, 0) else total_discounts end::decimal(18, 2)
        as amount,
    case when k = 1 then 'shipping' else 'percentage' end as type,
    synced('dc', i * 2 + k) as _fivetran_synced
from expanded
order by order_id, "index";
"""


def _publish_sql(schema: str, shop_domain: str, as_of: datetime) -> str:
    s = f'"{schema}"'
    ts = as_of.strftime("%Y-%m-%d %H:%M:%S")
    myshop = "demo-shop.myshopify.com"
    # The temp tables are already sorted; a plain scan keeps that order (preserve_insertion_order),
    # so sorting again here would only cost time.
    return f"""
create schema if not exists {s};
create or replace table {s}.shop as
select
    61234567890::bigint as id,
    'Demo Shop' as name,
    {_lit(shop_domain)} as domain,
    {_lit(myshop)} as myshopify_domain,
    'America/New_York' as iana_timezone,
    'USD' as currency,
    timestamp '{ts}' - interval 5 minute as _fivetran_synced;
create or replace table {s}.customer as select * from _customer;
create or replace table {s}.collection as select * from _collection;
create or replace table {s}.product as
    select * exclude (p, n_variants, base_price) from _product;
create or replace table {s}.product_variant as
    select * exclude (v, p) from _product_variant;
create or replace table {s}.product_media as
    select product_id, media_id, position, _fivetran_synced from _product_media;
create or replace table {s}.media_image as
    select media_id, image_id, image_url, image_alt_text, _fivetran_synced
    from _product_media;
create or replace table {s}.collection_product as
    select * from _collection_product;
create or replace table {s}.product_tag as select * from _product_tag;
create or replace table {s}."order" as select * from _order;
create or replace table {s}.order_line as
    select
        id, order_id, "index", product_id, variant_id, sku, title, variant_title, name, vendor,
        price, quantity, total_discount, fulfillment_status, gift_card,
        synced('ol', id) as _fivetran_synced
    from _order_line;
create or replace table {s}.order_shipping_line as select * from _order_shipping_line;
create or replace table {s}.order_discount_code as
    select * from _order_discount_code;
create or replace table {s}.fulfillment as select * exclude (i) from _fulfillment;
create or replace table {s}.refund as
    select
        id,
        order_id,
        created_at,
        created_at as processed_at,
        money_kind <> 'cancelled' and u('rrestock', i) < 0.8 as restock,
        synced('r', i) as _fivetran_synced
    from _refund;
create or replace table {s}.order_line_refund as
    select id, refund_id, order_line_id, quantity, subtotal, total_tax, restock_type,
        _fivetran_synced
    from _order_line_refund;
"""


def _validate(duckdb_path: Path, orders: int, schema: str, shop_domain: str) -> Path:
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 1:
        raise ConfigError(f"demo data: --orders must be a whole number >= 1, got {orders!r}")
    if not _SCHEMA_RE.match(schema):
        raise ConfigError(
            f"demo data: schema {schema!r} is not a plain identifier (letters, digits, underscore)"
        )
    if not _DOMAIN_RE.match(shop_domain):
        raise ConfigError(
            f"demo data: shop domain {shop_domain!r} is not a host name like demo-shop.example.com"
        )
    path = Path(duckdb_path).expanduser()
    if path.exists() and path.is_dir():
        raise ConfigError(f"demo data: {path} is a directory; give the path of a DuckDB file")
    if not path.parent.is_dir():
        raise ConfigError(
            f"demo data: folder {path.parent} does not exist; create it or choose another path"
        )
    return path


def generate(
    duckdb_path: Path,
    orders: int = 1000,
    seed: int = 42,
    schema: str = "shopify",
    shop_domain: str = "demo-shop.example.com",
    *,
    as_of: datetime | None = None,
) -> dict[str, int]:
    """Write every raw Shopify table into schema `schema` of the DuckDB file (replacing them); return rows per table.

    All timestamps are placed relative to `as_of` (UTC, default: the start of the current hour),
    so `_fivetran_synced` is recent enough for dbt source freshness. The same seed and `as_of`
    give identical tables.
    """
    path = _validate(duckdb_path, orders, schema, shop_domain)
    if as_of is None:
        as_of = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    seed = int(seed)
    n_customers = max(10, (orders + 2) // 3)
    n_products = max(30, orders // 200)

    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ConfigError(
                f"demo data: DuckDB file {path} is in use by another process; close it "
                "(dbt, a DuckDB shell) and retry"
            ) from exc
        raise ConfigError(f"demo data: cannot open DuckDB file {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise ConfigError(f"demo data: cannot open DuckDB file {path}: {exc}") from exc

    try:
        con.execute("set enable_progress_bar = false")
        con.execute("begin transaction")
        con.execute(_macros(seed, as_of))
        con.execute(_customers_sql(n_customers))
        con.execute(_catalog_sql(n_products))
        (n_variants,) = con.execute("select count(*) from _product_variant").fetchone()
        con.execute(_orders_sql(orders, n_customers, n_variants))
        con.execute(_publish_sql(schema, shop_domain, as_of))
        con.execute("commit")
        counts = {
            table: con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            for table in TABLES
        }
    except duckdb.Error:
        try:
            con.execute("rollback")
        except duckdb.Error:
            pass
        raise
    finally:
        con.close()
    return counts
