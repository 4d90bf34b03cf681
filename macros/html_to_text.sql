{#- body_html as plain text: script/style blocks dropped, block-level tags become a space and
    inline tags vanish (so "<b>Bo</b>ld" stays "Bold"), common named and numeric entities are
    decoded, unknown ones removed, whitespace runs collapsed to one space, trimmed, empty -> null.
    Cutting to a maximum length is the caller's business. -#}
{% macro html_to_text(expression) -%}
    {{ return(adapter.dispatch('html_to_text', 'listrak_feeds')(expression)) }}
{%- endmacro %}

{% macro html_entities() -%}
    {{ return([
        ('&nbsp;', ' '), ('&#160;', ' '), ('&lt;', '<'), ('&#60;', '<'), ('&gt;', '>'), ('&#62;', '>'),
        ('&quot;', '"'), ('&#34;', '"'), ('&apos;', "''"), ('&#39;', "''"), ('&#039;', "''"),
        ('&rsquo;', "''"), ('&#8217;', "''"), ('&lsquo;', "''"), ('&#8216;', "''"),
        ('&rdquo;', '"'), ('&#8221;', '"'), ('&ldquo;', '"'), ('&#8220;', '"'),
        ('&ndash;', '-'), ('&#8211;', '-'), ('&mdash;', '-'), ('&#8212;', '-'),
        ('&hellip;', '...'), ('&#8230;', '...'), ('&trade;', '(TM)'), ('&reg;', '(R)'), ('&copy;', '(C)'),
        ('&eacute;', 'é'), ('&egrave;', 'è'), ('&uuml;', 'ü'), ('&ouml;', 'ö'), ('&auml;', 'ä'), ('&szlig;', 'ß'),
    ]) }}
{%- endmacro %}

{% macro default__html_to_text(expression) -%}
    {%- set without_blocks -%}
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(
                        cast({{ expression }} as {{ dbt.type_string() }}),
                        '<(script|style)[^>]*>.*?</(script|style)>', ' ', 'gis'
                    ),
                    '<!--.*?-->', ' ', 'gs'
                ),
                '</?(p|div|br|li|ul|ol|h[1-6]|tr|td|th|table|section|article|header|footer|blockquote|hr)(\s[^>]*)?/?>', ' ', 'gi'
            ),
            '<[^>]*>', '', 'g'
        )
    {%- endset -%}
    {#- &amp; is parked on chr(1) first, so "&amp;lt;" ends as the text "&lt;" rather than "<". -#}
    {%- set decoded = namespace(sql="replace(" ~ without_blocks ~ ", '&amp;', chr(1))") -%}
    {%- for entity, text in html_entities() -%}
        {%- set decoded.sql = "replace(" ~ decoded.sql ~ ", '" ~ entity ~ "', '" ~ text ~ "')" -%}
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
