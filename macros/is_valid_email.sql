{#- True when the (already trimmed, lower-cased) value looks like a deliverable address:
    a dot-atom local part, "@", and a domain of dot-separated labels ending in a 2+ letter TLD.
    Deliberately no quoted local parts or IP-literal domains: Listrak rejects those too. -#}
{% macro email_regex() -%}
    {{ return("^[a-z0-9!#$%&''*+/=?^_`{|}~-]+([.][a-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?[.])+[a-z]{2,}$") }}
{%- endmacro %}

{% macro is_valid_email(expression) -%}
    {{ return(adapter.dispatch('is_valid_email', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{#- Postgres-style regular-expression match; anchors make partial and full matching agree. -#}
{% macro default__is_valid_email(expression) -%}
    (lower({{ expression }}) ~ '{{ email_regex() }}')
{%- endmacro %}

{% macro duckdb__is_valid_email(expression) -%}
    regexp_full_match(lower({{ expression }}), '{{ email_regex() }}')
{%- endmacro %}

{#- Spark: rlike finds the anchored pattern; a quote inside a Spark string literal is \'. -#}
{% macro spark__is_valid_email(expression) -%}
    coalesce(lower({{ expression }}) rlike '{{ email_regex() | replace("''", "\\'") }}', false)
{%- endmacro %}
