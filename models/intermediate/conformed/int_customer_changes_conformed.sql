-- Changed customer records of every commerce source and when they were synced.
{{ conformed_union('customer_changes', [
    'customer_id',
    'synced_at',
]) }}
