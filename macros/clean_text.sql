{#- Every text value the feeds carry goes through this macro: CR, LF, tabs (and the other line and
    paragraph separators a browser can paste) become one space, the result is trimmed, and an empty
    string becomes null so that "required" means "has visible text". -#}
{% macro clean_text(expression) -%}
    {{ return(adapter.dispatch('clean_text', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{% macro default__clean_text(expression) -%}
    nullif(
        trim(
            regexp_replace(
                cast({{ expression }} as {{ dbt.type_string() }}),
                '[' || chr(13) || chr(10) || chr(9) || chr(11) || chr(12) || chr(133) || chr(8232) || chr(8233) || ']+',
                ' ',
                'g'
            )
        ),
        ''
    )
{%- endmacro %}

{#- An e-mail address as a key: cleaned, lower-cased. -#}
{% macro normalize_email(expression) -%}
    lower({{ clean_text(expression) }})
{%- endmacro %}

{#- Spark: regexp_replace replaces every match (its fourth argument is a position, not flags), and
    chr() only makes ASCII, so the class is written with Java regex escapes. -#}
{% macro spark__clean_text(expression) -%}
    nullif(
        trim(
            regexp_replace(
                cast({{ expression }} as {{ dbt.type_string() }}),
                '[\\r\\n\\t\\x0B\\f\\u0085\\u2028\\u2029]+',
                ' '
            )
        ),
        ''
    )
{%- endmacro %}
