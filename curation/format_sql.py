"""The SQL twins of the export formats: PostgreSQL renders the TRL rows itself and streams them
with COPY, so the web process only forwards bytes (no JSON decode/encode per row).

Lines are built by text concatenation of jsonb values (their text form is valid JSON, and it is
much faster than json_build_object), composed with `psycopg.sql`: JSON fragments and key names
are `Literal`s, the table an `Identifier`, values `Placeholder`s; no SQL is built by string
formatting. Each twin must produce exactly what its format's `rows` produces in Python:
tests/test_export_api.py compares the two row by row, format by format.
"""

from psycopg.sql import SQL, Composable, Composed, Identifier, Literal, Placeholder

from annotate.kinds import registry as kind_registry

# How a format's rows come out of one snapshot row, in SQL: one line; one per element of a list
# in the row's data (alias lab(v, n)); or one per side of a pair (alias side(n); binary rows once).
ONE, LISTED, SIDES = "one", "listed", "sides"


def field(key: str) -> Composed:
    """data->'key' (jsonb)."""
    return SQL("data->{}").format(Literal(key))


def text_field(key: str) -> Composed:
    """data->>'key' (text)."""
    return SQL("data->>{}").format(Literal(key))


def concat(*parts) -> Composed:
    """concat(...) of SQL expressions; plain strings are JSON fragments, passed as literals."""
    return SQL("concat({})").format(SQL(", ").join(p if isinstance(p, Composable) else Literal(p) for p in parts))


def joined(key: str, sep: str) -> Composed:
    """JSON string of a text list joined by sep (the common 0/1-element cases skip the subquery)."""
    return SQL(
        "CASE WHEN jsonb_typeof({v}) IS DISTINCT FROM 'array' OR jsonb_array_length({v}) = 0 THEN {empty} "
        "WHEN jsonb_array_length({v}) = 1 THEN ({v}->0)::text "
        "ELSE to_json(array_to_string(ARRAY(SELECT jsonb_array_elements_text({v})), {sep}))::text END"
    ).format(v=field(key), empty=Literal('""'), sep=Literal(sep))


def json_or(expr: Composable, default: str = "null") -> Composed:
    return SQL("COALESCE(({})::text, {})").format(expr, Literal(default))


CONTROVERSIAL = SQL("CASE WHEN {} = 'true'::jsonb THEN 'true' ELSE 'false' END").format(field("controversial"))
ITEM_ID = json_or(field("item_id"))
EXTRAS = (
    ',"rationale":',
    joined("rationales", "\n\n"),
    ',"noise":',
    json_or(field("p_noise")),
    ',"weight":',
    SQL("CASE WHEN jsonb_typeof({p}) = 'number' THEN (1.0::float8 - ({t})::float8)::text ELSE '1.0' END").format(
        p=field("p_noise"), t=text_field("p_noise")
    ),
    ',"sources":',
    joined("sources", ","),
    ',"item_id":',
    ITEM_ID,
    ',"controversial":',
    CONTROVERSIAL,
    "}",
)
# The margin column as each pair kind defines it (field and default), and which kinds are single
# completions: both from the feedback kinds (annotate.kinds), composed as literals and identifiers.
_PAIR_MARGINS = [
    (k.key, k.export.margin_field, float(k.export.margin_default))
    for k in map(kind_registry.get, kind_registry.export_kinds("pair"))
    if k.export is not None  # always, for a "pair" kind; says so to the type checker
]
_MARGIN_CASES: list[Composable] = [
    SQL("WHEN kind = {k} THEN COALESCE(({f})::text, {d})").format(
        k=Literal(key), f=field(name), d=Literal(str(default))
    )
    for key, name, default in _PAIR_MARGINS
]
MARGIN = SQL("CASE {} ELSE '1.0' END").format(SQL(" ").join(_MARGIN_CASES))
SINGLE = SQL("kind = ANY({})").format(Literal(list(kind_registry.export_kinds("single"))))

MESSAGES = SQL(
    "CASE WHEN jsonb_typeof({m}) = 'array' AND jsonb_array_length({m}) > 0 THEN ({m})::text "
    "ELSE concat({head}, ({p})::text, '}}]') END"
).format(m=field("messages"), p=field("prompt"), head=Literal('[{"role":"user","content":'))

# text_render.render_prompt in SQL. to_json() of the concatenated text is faster than splicing the
# escaped jsonb text (substr/length count characters, which is slow on long UTF-8 text).
_ROLE = SQL(
    "CASE m->>'role' WHEN 'user' THEN 'Human' WHEN 'assistant' THEN 'Assistant' "
    "ELSE upper(left(m->>'role', 1)) || lower(substr(m->>'role', 2)) END"
)
TEXT_PROMPT = SQL(
    "to_json(CASE WHEN jsonb_typeof({m}) = 'array' AND jsonb_array_length({m}) > 0 "
    "THEN concat((SELECT string_agg(concat({gap}, {role}, ': ', m->>'content'), '' ORDER BY o) "
    "FROM jsonb_array_elements({m}) WITH ORDINALITY AS t(m, o)), {turn}) "
    "ELSE concat({human}, {p}, {turn}) END)::text"
).format(
    m=field("messages"),
    p=text_field("prompt"),
    role=_ROLE,
    gap=Literal("\n\n"),
    turn=Literal("\n\nAssistant:"),
    human=Literal("\n\nHuman: "),
)


def completion(text_expr: Composable) -> Composed:
    """text_render.render_completion of a text expression, as a JSON string."""
    return SQL("to_json(' ' || ({}))::text").format(text_expr)


def assistant(json_expr: Composable) -> Composed:
    """[{"role": "assistant", "content": …}] around the JSON text of a string."""
    return concat('[{"role":"assistant","content":', json_expr, "}]")


def json_text(expr: Composable) -> Composed:
    """The JSON text of a jsonb value."""
    return SQL("({})::text").format(expr)


CHOSEN, REJECTED = completion(text_field("chosen")), completion(text_field("rejected"))
# The completion of one side of an unpaired row: a single row's own (binary), else chosen then rejected.
SIDE = SQL("CASE WHEN {s} THEN {c} WHEN side.n = 1 THEN {ch} ELSE {rj} END").format(
    s=SINGLE, c=text_field("completion"), ch=text_field("chosen"), rj=text_field("rejected")
)
SIDE_LABEL = SQL(
    "CASE WHEN (CASE WHEN {s} THEN ({l})::boolean ELSE side.n = 1 END) THEN 'true' ELSE 'false' END"
).format(s=SINGLE, l=field("label"))


def listed_value(key: str) -> Composed:
    """(lab.v->'key')::text: a field of the list element a listed format's row is made from."""
    return SQL("(lab.v->{})::text").format(Literal(key))


def export_query(table: str, line: Composable, rows: str, listed_key: str = "", split: bool = False) -> Composed:
    """SELECT one JSON text line per TRL row from `table`, in the order the Python path yields them.
    Placeholders: snapshot id, the list of row kinds, then the split when `split`."""
    where = SQL("snapshot_id = {} AND kind = ANY({})").format(Placeholder(), Placeholder())
    if split:
        where = SQL("{} AND split = {}").format(where, Placeholder())
    source: Composable = Identifier(table)
    order = SQL("id")
    if rows == LISTED:
        source = SQL(
            "{t} CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({v}) = 'array' "
            "THEN {v} ELSE '[]'::jsonb END) WITH ORDINALITY AS lab(v, n)"
        ).format(t=Identifier(table), v=field(listed_key))
        order = SQL("id, lab.n")
    elif rows == SIDES:
        source = SQL("{} CROSS JOIN LATERAL (VALUES (1), (2)) AS side(n)").format(Identifier(table))
        where = SQL("{} AND (NOT {} OR side.n = 1)").format(where, SINGLE)
        order = SQL("id, side.n")
    return SQL("SELECT {line} FROM {source} WHERE {where} ORDER BY {order}").format(
        line=line, source=source, where=where, order=order
    )


def copy_query(query: Composable) -> Composed:
    """COPY of a query's lines, verbatim: CSV mode with a delimiter and quote that JSON text never
    contains (json output escapes control characters)."""
    return SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER {}, QUOTE {})").format(
        query, Literal("\x01"), Literal("\x02")
    )
