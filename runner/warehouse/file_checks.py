"""The SQL behind `feeds validate`: a file's rows read as the feed's contracted types, and one UNION
ALL of every row-level check the mart's data tests imply, each branch yielding
(idx, pos, col, rule, message, other). Pure SQL text; `file_reader` runs it in DuckDB."""

from __future__ import annotations

import re

from runner.config import FeedFormat
from runner.feed import Column, Feed, Rule
from runner.feed_file import header_names
from runner.warehouse.sql import identifier, literal

#: A plain decimal number: digits and an optional point; no currency symbol or thousands separator.
_DECIMAL = "-?[0-9]+(\\.[0-9]+)?"
_TRUE = ("yes", "y", "true", "1")
_FALSE = ("no", "n", "false", "0")
_BOOLEANS = _TRUE + _FALSE
#: The data tests that compare one file's values; `relationships` needs the other feed's file.
CHECKED_TESTS = (
    "not_null",
    "unique",
    "listrak_unique_combination",
    "max_length",
    "email_format",
    "accepted_values",
    "value_in_seed",
    "listrak_accepted_range",
    "listrak_expression_is_true",
    "no_line_breaks",
)
#: The DuckDB type each column kind is read as, for the rules that compare values.
_SQL_TYPES = {
    "text": "varchar",
    "integer": "bigint",
    "decimal": "decimal(38, 10)",
    "timestamp": "timestamp",
    "date": "date",
    "boolean": "boolean",
}


def rule_expression(rule: Rule) -> str:
    # As the expression_is_true macro renders it: an optional column name, then the expression.
    column = rule.arguments.get("column_name") or rule.column
    return f"{column} {rule.arguments['expression']}" if column else str(rule.arguments["expression"])


def typed_sql(feed: Feed, fmt: FeedFormat, positions: dict[int, int]) -> str:
    """The file's rows with each feed column also read as its contracted type, under its mart name,
    so rules written for the mart (ranges, accepted values, expressions) run as written.

    A value that is empty or not of its type is null here: its type problem is reported once, by
    the type check, and it fails no other rule, as a null fails no dbt test but not_null.
    """
    expressions = ["rowid as idx", "*"]
    for index, column in enumerate(feed.columns):
        sql_type = _SQL_TYPES[column.kind]
        if index not in positions:
            expressions.append(f"cast(null as {sql_type}) as {identifier(column.name)}")
            continue
        value = f"c{positions[index]}"
        kind = column.kind
        if kind == "integer":
            typed = f"case when regexp_full_match({value}, '-?[0-9]+') then try_cast({value} as bigint) end"
        elif kind == "decimal":
            typed = f"case when regexp_full_match({value}, '{_DECIMAL}') then try_cast({value} as {sql_type}) end"
        elif kind == "timestamp":
            typed = f"try_strptime({value}, {literal(fmt.timestamp_format)})"
        elif kind == "date":
            typed = f"cast(try_strptime({value}, {literal(fmt.date_format)}) as date)"
        elif kind == "boolean":
            typed = (
                f"case when lower(trim({value})) in ({_words(_TRUE)}) then true "
                f"when lower(trim({value})) in ({_words(_FALSE)}) then false end"
            )
        else:
            typed = f"nullif({value}, '')"
        expressions.append(f"{typed} as {identifier(column.name)}")
    return "select " + ", ".join(expressions) + " from file_rows"


def checks_sql(feed: Feed, fmt: FeedFormat, positions: dict[int, int], rules: list[Rule]) -> str:
    """One UNION ALL of every row-level check over `typed_rows`; each branch yields
    (idx, pos, col, rule, message, other)."""
    branches: list[str] = []
    headers = header_names(feed, fmt)
    index_of = {column.name: index for index, column in enumerate(feed.columns)}

    def branch(index: int, rule: str, condition: str, message: str) -> None:
        branches.append(
            f"select idx, {index} as pos, {literal(headers[index])} as col, {literal(rule)} as rule, "
            f"{message} as message, cast(null as bigint) as other from typed_rows where {condition}"
        )

    def raw(index: int) -> str:
        return f"c{positions[index]}"

    def shown(index: int) -> str:
        return f"left({raw(index)}, 60)"

    # The no_line_breaks test also refuses tabs in the text columns it covers.
    tabs_refused: set[int] = set()
    for rule in rules:
        if rule.test == "no_line_breaks" and rule.severity == "error":
            if rule.column is None:
                tabs_refused |= {index for index, column in enumerate(feed.columns) if column.kind == "text"}
            elif rule.column in index_of:
                tabs_refused.add(index_of[rule.column])

    for index, column in enumerate(feed.columns):
        if index not in positions:
            continue
        present = f"coalesce({raw(index)}, '') <> ''"
        for rule_name, condition, message in _type_checks(column, fmt, raw(index), shown(index)):
            branch(index, rule_name, f"{present} and {condition}", message)
        # CR and LF split a row in any text file: a format rule, whatever the tests say.
        if index in tabs_refused:
            condition = " or ".join(f"contains({raw(index)}, chr({code}))" for code in (9, 10, 13))
            condition = f"({condition})"
            message = "'value holds a line break or tab (CR, LF or TAB); remove it'"
        else:
            condition = f"(contains({raw(index)}, chr(10)) or contains({raw(index)}, chr(13)))"
            message = "'value holds a line break (CR or LF); remove it'"
        branch(index, "line_break", condition, message)

    unique_sets: list[tuple[str, ...]] = []
    for rule in rules:
        if rule.severity != "error":
            continue
        if rule.test == "listrak_unique_combination":
            names = rule.arguments.get("combination_of_columns") or []
            unique_sets.append(tuple(str(name).strip().strip('"') for name in names))
            continue
        if rule.test == "listrak_expression_is_true":
            _expression_branch(rule, branches, feed, headers, positions)
            continue
        if rule.column is None or rule.column not in index_of or index_of[rule.column] not in positions:
            continue
        index = index_of[rule.column]
        typed = identifier(rule.column)
        if rule.test == "not_null":
            branch(index, "required", f"coalesce(trim({raw(index)}), '') = ''", "'a value is required'")
        elif rule.test == "unique":
            unique_sets.append((rule.column,))
        elif rule.test == "max_length":
            length = int(rule.arguments["length"])
            branch(
                index,
                "max_length",
                f"length({raw(index)}) > {length}",
                f"'value has ' || length({raw(index)}) || ' characters, at most {length} allowed'",
            )
        elif rule.test == "email_format" and "pattern" in rule.arguments:
            # As the is_valid_email macro: the lower-cased value matches the email_regex macro.
            branch(
                index,
                "email_format",
                f"coalesce({raw(index)}, '') <> '' and not regexp_full_match(lower({raw(index)}), "
                f"{literal(rule.arguments['pattern'])})",
                f"'not a valid e-mail address: ' || {shown(index)}",
            )
        elif rule.test in ("accepted_values", "value_in_seed") and "values" in rule.arguments:
            values = rule.arguments.get("values") or []
            quote = rule.arguments.get("quote", True)
            listed = ", ".join(literal(str(value)) if quote else str(value) for value in values)
            branch(
                index,
                "accepted_values",
                f"{typed} is not null and {typed} not in ({listed})",
                f"'value ' || {shown(index)} || " + literal(" is not one of " + ", ".join(map(str, values))),
            )
        elif rule.test == "listrak_accepted_range":
            # The bounds are SQL, inserted as the accepted_range test inserts them.
            low, high = rule.arguments.get("min_value"), rule.arguments.get("max_value")
            inclusive = rule.arguments.get("inclusive", True)
            failing, wanted = [], []
            if low is not None:
                failing.append(f"{typed} {'<' if inclusive else '<='} {low}")
                wanted.append(f"{'>=' if inclusive else '>'} {low}")
            if high is not None:
                failing.append(f"{typed} {'>' if inclusive else '>='} {high}")
                wanted.append(f"{'<=' if inclusive else '<'} {high}")
            if failing:
                branch(
                    index,
                    "accepted_range",
                    "(" + " or ".join(failing) + ")",
                    f"'value ' || {shown(index)} || " + literal(" is out of range: must be " + " and ".join(wanted)),
                )

    key = tuple(feed.key)
    if key and all(name in index_of for name in key):
        unique_sets.append(key)
    seen: set[frozenset[str]] = set()
    for names in unique_sets:
        if frozenset(names) in seen or not all(name in index_of and index_of[name] in positions for name in names):
            continue
        seen.add(frozenset(names))
        indexes = [index_of[name] for name in names]
        keys = [raw(index) for index in indexes]
        shown_key = " || ', ' || ".join(f"{literal(headers[index] + '=')} || coalesce({raw(index)}, '')" for index in indexes)
        what = "key" if set(names) == set(key) else "value"
        branches.append(
            f"""
            select idx, {indexes[0]} as pos, {literal(headers[indexes[0]])} as col, 'unique' as rule,
                'duplicate {what} ' || shown as message, first_idx as other
            from (
                select idx, {shown_key} as shown, min(idx) over (partition by {', '.join(keys)}) as first_idx
                from typed_rows
                where {' and '.join(f"coalesce({value}, '') <> ''" for value in keys)}
            )
            where idx <> first_idx
            """
        )
    return "\nunion all\n".join(branches)


def _expression_branch(
    rule: Rule, branches: list[str], feed: Feed, headers: list[str], positions: dict[int, int]
) -> None:
    """An expression_is_true rule: its SQL over the typed columns, failing where it is false (a null
    result passes, as in dbt). The row's problem names the columns the expression mentions."""
    expression = rule_expression(rule)
    found = {
        index: match.start()
        for index, column in enumerate(feed.columns)
        if (match := re.search(r'"' + re.escape(column.name) + r'"|\b' + re.escape(column.name) + r"\b", expression))
    }
    mentioned = sorted(found, key=found.__getitem__)  # in the order the expression names them
    present = [index for index in mentioned if index in positions]
    if len(present) < len(mentioned) or not mentioned:
        return  # a column it needs is missing from the header, which is reported already
    names = ", ".join(headers[index] for index in mentioned)
    values = " || ', ' || ".join(
        f"{literal(headers[index] + '=')} || coalesce(c{positions[index]}, '')" for index in mentioned
    )
    label = literal(f"{rule.name}: expected {expression}; found ")
    branches.append(
        f"select idx, {mentioned[0]} as pos, {literal(names)} as col, 'expression_is_true' as rule, "
        f"{label} || {values} as message, cast(null as bigint) as other from typed_rows where not ({expression})"
    )


def _type_checks(column: Column, fmt: FeedFormat, value: str, shown: str) -> list[tuple[str, str, str]]:
    kind = column.kind
    if kind == "integer":
        return [("type", f"not regexp_full_match({value}, '-?[0-9]+')", f"'not an integer: ' || {shown}")]
    if kind == "decimal":
        return [
            (
                "type",
                f"not regexp_full_match({value}, '{_DECIMAL}')",
                f"'not a plain decimal number (digits and a point; no currency symbol or thousands separator): ' || {shown}",
            )
        ]
    if kind in ("timestamp", "date"):
        pattern = fmt.timestamp_format if kind == "timestamp" else fmt.date_format
        return [
            (
                "type",
                f"try_strptime({value}, {literal(pattern)}) is null",
                literal(f"not a {kind} in the format {pattern}: ") + f" || {shown}",
            )
        ]
    if kind == "boolean":
        return [
            (
                "type",
                f"lower(trim({value})) not in ({_words(_BOOLEANS)})",
                f"'not a boolean (Yes/Y/True/1 or No/N/False/0): ' || {shown}",
            )
        ]
    return []


def _words(words: tuple[str, ...]) -> str:
    return ", ".join(literal(word) for word in words)
