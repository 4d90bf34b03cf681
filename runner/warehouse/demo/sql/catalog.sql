-- The catalogue: collections, products (titles with delimiters, quotes, line breaks, tabs,
-- emoji; HTML bodies), variants (odd titles, negative stock, sale prices), media, tags.
-- Reads: getvariable('n_products'). Helper columns (p, v, n_variants, base_price) are dropped
-- on publish.

create temp table _collection as
select
    17000000000000 + k as id,
    collection_titles()[k + 1] as title,
    slug(collection_titles()[k + 1]) as handle,
    pick(['manual', 'best-selling', 'created-desc', 'alpha-asc', 'price-asc'], u('kso', k))
        as sort_order,
    case when k = 11 then null else ago(86400 * (400 + k * 20)) end as published_at,
    k = 11 as _fivetran_deleted,
    synced('k', k) as _fivetran_synced
from range(len(collection_titles())) as t (k)  -- noqa: AL05
order by id;

create temp table _product as
with base as (
    select
        p,
        pick(adjectives(), u('padj', p)) as adj,
        pick(materials(), u('pmat', p)) as mat,
        pick(nouns(), u('pnoun', p)) as noun,
        pick(nouns(), u('pnoun2', p)) as noun2,
        u('pstat', p) as us,
        u('page', p) as age
    from range(getvariable('n_products')) as t (p)  -- noqa: AL05
),

titled as (
    select
        *,
        case
            when p % 29 = 14
                then left(
                    adj || ' ' || mat || ' ' || noun || ' with Extra-Long Product Name for '
                    || 'Marketplace Search: Breathable, Durable, Machine-Washable, Ethically '
                    || 'Sourced, Gift-Ready Packaging Included and a Lifetime Repair Promise', 200
                )
            when p % 12 = 1 then adj || ' ' || noun || ', ' || mat
            when p % 12 = 2 then 'The "' || adj || '" ' || mat || ' ' || noun
            when p % 12 = 3 then adj || ' ' || noun || chr(13) || chr(10) || mat || ' Edition'
            when p % 12 = 4 then adj || ' ' || mat || chr(9) || noun
            when p % 12 = 5 then adj || ' ' || noun || chr(10) || '(' || mat || ')'
            when p % 12 = 6 then pick(unicode_words(), u('puni', p)) || ' ' || noun
            when p % 12 = 7 then adj || ' ' || noun || ' ' || pick(emoji(), u('pemo', p))
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
        when p % 9 = 4
            then repeat(
                '<p>Our ' || lower(mat) || ' ' || lower(noun) || ' is made to last &amp; made '
                || 'to be worn.&nbsp;It&#39;s cut generously, with reinforced seams.</p>' || chr(10),
                40
            )
        when p % 5 = 2
            then
                '<div class="rte">' || chr(13) || chr(10)
                || '<p>Meet the <em>' || adj || '</em> ' || noun || ' &mdash; '
                || 'soft, &quot;lived-in&quot; and ready.</p>' || chr(13) || chr(10)
                || '<p>Care:<br/>Wash cold &amp; hang dry.</p></div>'
        else
            '<p>The ' || lower(adj) || ' ' || lower(noun) || ' in ' || lower(mat)
            || '.&nbsp;It&#39;s <strong>built to last</strong> &amp; easy to love.<br/>'
            || 'Machine wash cold.</p><ul><li>100% ' || mat || '</li><li>Imported</li></ul>'
    end as body_html,
    pick(vendors(), u('pven', p)) as vendor,
    pick(product_types(), u('ptyp', p)) as product_type,
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
        sizes()[1 + ((k + floor(u('vsz', p) * 3)::bigint) % len(sizes()))] as size,
        pick(colors(), u('vcol', p)) as color,
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
    'https://cdn.shopify.com/s/files/1/0612/3456/7890/files/' || handle || '-' || (k + 1)::varchar
    || '.jpg?v=' || (1700000000 + floor(u('mver', p) * 9999999)::bigint)::varchar as image_url,
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
        floor(u('pcs', product.p) * len(collection_titles()))::bigint as first_collection,
        unnest(range(1 + floor(u('pnc', product.p) * 3)::bigint)) as j
    from _product as product
)

select
    17000000000000 + (first_collection + j) % len(collection_titles()) as collection_id,
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
                -- consecutive words from a drawn start (sqlfluff reads the lambda's j as a column)
                lambda j: tag_words()[
                    1 + (floor(u('ts', product.p) * len(tag_words()))::bigint + j) % len(tag_words())  -- noqa: RF03
                ]
            ),
            case
                when product.p % 12 = 3 or u('tclr', product.p) < 0.06
                    then ['clearance']
                else []
            end,
            case
                when product.p % 12 = 8 or u('tout', product.p) < 0.04
                    then ['outlet']
                else []
            end
        ) as tags
    from _product as product
)

select
    product_id,
    unnest(range(len(tags))) as index,
    unnest(tags) as value,
    synced('t', p) as _fivetran_synced
from tagged
order by product_id, index;
