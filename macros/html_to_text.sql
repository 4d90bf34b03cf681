{#- body_html as plain text, in two steps a model applies one after the other:
    strip_html_tags drops script/style blocks and comments, turns block-level tags into a space
    and removes inline tags (so "<b>Bo</b>ld" stays "Bold"); decode_html_entities decodes the
    common named and numeric entities, removes unknown ones, collapses whitespace runs to one
    space and trims (empty -> null). Cutting to a maximum length is the caller's business.
    Portable regexp_replace (Postgres and DuckDB share the signature and flags), so no
    engine-specific implementation is needed yet. -#}
{% macro strip_html_tags(expression) -%}
    {{ return(adapter.dispatch('strip_html_tags', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{% macro default__strip_html_tags(expression) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    cast({{ expression }} as {{ dbt.type_string() }}),
                    '<(script|style)[^>]*>.*?</(script|style)>', ' ', 'gis'
                ),
                '<!--.*?-->', ' ', 'gs'
            ),
            '</?(p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|section|article|header|footer|blockquote|hr)(\s[^>]*)?/?>',
            ' ',
            'gi'
        ),
        '<[^>]*>', '', 'g'
    )
{%- endmacro %}

{#- Entities grouped by the text they stand for; &amp; is decoded last so "&amp;lt;" stays "&lt;".
    Shopify's editor stores letters such as é as UTF-8, so only markup and punctuation entities
    are listed; any other entity is removed. -#}
{% macro html_entity_groups() -%}
    {{ return([
        ('nbsp|#160', ' '),
        ('lt|#60', '<'),
        ('gt|#62', '>'),
        ('quot|#34|ldquo|rdquo|#8220|#8221', '"'),
        ('apos|#39|#039|lsquo|rsquo|#8216|#8217', "''"),
        ('ndash|mdash|#8211|#8212', '-'),
        ('hellip|#8230', '...'),
        ('trade|#8482', '(TM)'),
        ('reg|#174', '(R)'),
        ('copy|#169', '(C)'),
    ]) }}
{%- endmacro %}

{% macro decode_html_entities(expression) -%}
    {{ return(adapter.dispatch('decode_html_entities', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{% macro default__decode_html_entities(expression) -%}
    {%- set decoded = namespace(sql="replace(" ~ expression ~ ", '&amp;', chr(1))") -%}
    {%- for names, text in html_entity_groups() -%}
        {%- set decoded.sql = "regexp_replace(" ~ decoded.sql ~ ", '&(" ~ names ~ ");', '" ~ text ~ "', 'gi')" -%}
    {%- endfor -%}
    nullif(
        trim(
            regexp_replace(
                replace(regexp_replace({{ decoded.sql }}, '&#?[a-z0-9]+;', ' ', 'gi'), chr(1), '&'),
                '\s+', ' ', 'g'
            )
        ),
        ''
    )
{%- endmacro %}

{#- Whether a text holds an HTML tag or comment: "<" then a letter, "/" or "!" and a ">" later.
    Used by the no_html_markup test on every text column of the feeds. -#}
{% macro has_html_markup(expression) -%}
    {{ return(adapter.dispatch('has_html_markup', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{#- `~` finds the pattern anywhere in the text on Postgres and DuckDB alike. -#}
{% macro default__has_html_markup(expression) -%}
    coalesce({{ expression }} ~ '<(/?[a-zA-Z][^<>]*|!--.*?--)>', false)
{%- endmacro %}

{% macro spark__has_html_markup(expression) -%}
    coalesce({{ expression }} rlike '<(/?[a-zA-Z][^<>]*|!--.*?--)>', false)
{%- endmacro %}

{#- Spark: Java regular expressions with inline flags ((?i) case-insensitive, (?s) dot matches
    newlines); regexp_replace always replaces every match. A quote is written \' in a Spark string
    literal, where '' would end one literal and start the next. -#}
{% macro spark__strip_html_tags(expression) -%}
    regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    cast({{ expression }} as {{ dbt.type_string() }}),
                    '(?is)<(script|style)[^>]*>.*?</(script|style)>', ' '
                ),
                '(?s)<!--.*?-->', ' '
            ),
            '(?i)</?(p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|section|article|header|footer|blockquote|hr)(\\s[^>]*)?/?>',
            ' '
        ),
        '<[^>]*>', ''
    )
{%- endmacro %}

{% macro spark__decode_html_entities(expression) -%}
    {%- set decoded = namespace(sql="replace(" ~ expression ~ ", '&amp;', chr(1))") -%}
    {%- for names, text in html_entity_groups() -%}
        {%- set decoded.sql = "regexp_replace(" ~ decoded.sql ~ ", '(?i)&(" ~ names ~ ");', '" ~ (text | replace("''", "\\'")) ~ "')" -%}
    {%- endfor -%}
    nullif(
        trim(
            regexp_replace(
                replace(regexp_replace({{ decoded.sql }}, '(?i)&#?[a-z0-9]+;', ' '), chr(1), '&'),
                '\\s+', ' '
            )
        ),
        ''
    )
{%- endmacro %}
