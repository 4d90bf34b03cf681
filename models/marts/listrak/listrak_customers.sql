-- The Customers feed: candidates from int_customers_prepared that are not quarantined in
-- listrak_customers_rejects.
{{ config(**feeds_incremental('customer_key')) }}
{{ listrak_feed_select(
    'listrak_customers', ref('int_customers_prepared'), ref('listrak_customers_rejects'), 'customer_key'
) }}
