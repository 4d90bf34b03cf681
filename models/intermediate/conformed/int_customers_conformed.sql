-- Customer records of every commerce source, one row per record (several may share an e-mail).
{{ conformed_union('customers', [
    'customer_id',
    'email',
    'first_name',
    'last_name',
    'updated_at',
    'is_registered',
    'is_deleted',
]) }}
