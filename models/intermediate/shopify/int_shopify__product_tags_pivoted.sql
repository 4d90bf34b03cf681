-- Product flags from tags (lower-cased): "clearance" -> IsClearance, "outlet" -> IsOutlet,
-- "gender:<value>" -> Gender (the first such tag by position).
with

product_tags as (

    select * from {{ ref('stg_shopify__product_tags') }}

),

gender_tags as (

    select
        product_id,
        trim(substring(tag, 8)) as gender,
        row_number() over (partition by product_id order by tag_index) as tag_rank
    from product_tags
    where tag like 'gender:%'

),

flags as (

    select
        product_id,
        max(case when tag = 'clearance' then 1 else 0 end) = 1 as is_clearance,
        max(case when tag = 'outlet' then 1 else 0 end) = 1 as is_outlet
    from product_tags
    group by product_id

),

final as (

    select
        flags.product_id,
        flags.is_clearance,
        flags.is_outlet,
        nullif(gender_tags.gender, '') as gender
    from flags
    left join gender_tags
        on
            flags.product_id = gender_tags.product_id
            and gender_tags.tag_rank = 1

)

select * from final
