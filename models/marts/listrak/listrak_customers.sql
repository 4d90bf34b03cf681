-- The Customers feed: candidates from int_customers_prepared that are not quarantined in
-- listrak_customers_rejects.
{{ listrak_feed_select('listrak_customers', ref('int_customers_prepared'), ref('listrak_customers_rejects')) }}
