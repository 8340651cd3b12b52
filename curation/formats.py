"""Snapshot rows → the dataset formats TRL reads.

A `SnapshotRow.data` is frozen when the snapshot is made, one of:

pairwise  {"prompt": str, "messages": [{role, content}, ...] | None,   # conversation before the answer
           "chosen": str, "rejected": str, "margin": float,            # margin = |preference| in 0..3
           "preference": int, "rationales": [str], "p_noise": float | None,
           "sources": [str], "item_id": int}
binary    {"prompt", "messages", "completion": str, "label": bool, "failed_principles": [str],
           "reason": str, "rationales", "p_noise", "sources", "item_id"}
edit      {"prompt", "messages", "chosen": edited, "rejected": original, "edit_distance": float,
           "rationales", "p_noise", "sources", "item_id"}
likert    {"prompt", "messages", "completion": str, "attributes": {aspect: mean 0..4},
           "rationales", "p_noise", "n_labels", "sources", "item_id", "controversial"}

Formats (TRL's documented column names, extra columns are ignored by its trainers):
preference                 prompt/chosen/rejected as text (pairwise and edit rows): the whole
                           conversation rendered as curation/text_render.py says
                           ("\n\nHuman: …\n\nAssistant:" + " answer")
preference_conversational  the same with prompt as a message list and chosen/rejected as [assistant message]
unpaired                   prompt/completion/label for KTO/BCO: binary rows, and both sides of every pair
                           (text, rendered like preference)
unpaired_conversational    the same with prompt as a message list and completion as [assistant message]
edit                       edit rows only, edited ≻ original
labels                     one row per individual pairwise label (people and LM judges): prompt, chosen,
                           rejected, annotator (a pseudonym, see curation.labels.pseudonym), annotator_kind
                           (human, judge or source), preference (−3..3, positive prefers chosen), item_id,
                           controversial. What personalised reward models train on. Items whose people
                           tie have no curated winner and so are not in a snapshot, nor in this export.
pluralistic                pairwise rows with a preference group: prompt, chosen, rejected, group (one row
                           per group whose Bradley–Terry head takes a side on the item, |P − ½| > 0.1,
                           chosen/rejected as that group sees them), item_id, controversial. Only items
                           people labelled when the latest group fit ran; empty before any fit.
attributes                 Likert rows for SteerLM: prompt, completion (text, rendered like unpaired),
                           attributes {aspect: int 0..4} (the raters' mean, rounded half up) and
                           attribute_string "helpfulness:4,correctness:3,…" (HelpSteer2's order).
regression                 Likert rows for a multi-head reward model: prompt, completion, aspects [names]
                           and targets [mean 0..4 per aspect, same order].
                           These two are the Likert kind's own (`FeedbackKindSpec.export_formats`):
                           rendered in Python, also when the COPY engine is asked for.

Every row carries `controversial`: true when the project's preference groups explain the item's
disagreement (curation.pluralism), so trainers can tell opinion from noise.
"""

from annotate.kinds import registry as kind_registry
from curation.models import SnapshotRow
from curation.text_render import render_completion, render_prompt

# Formats a kind contributes for its own rows ({format: kind}, `FeedbackKindSpec.export_formats`):
# their columns come from the kind (`export_row`, `export_columns`), rendered in Python only.
KIND_FORMATS = kind_registry.kind_formats()
FORMATS = (
    "preference",
    "preference_conversational",
    "unpaired",
    "unpaired_conversational",
    "edit",
    "labels",
    "pluralistic",
    *KIND_FORMATS,
)
UNPAIRED = ("unpaired", "unpaired_conversational")
# Which kinds' snapshot rows are pairs (prompt/chosen/rejected + a margin) and which single
# completions (prompt/completion/label): each kind says so (`FeedbackKindSpec.export`).
PAIR_KINDS = kind_registry.export_kinds("pair")
SINGLE_KINDS = kind_registry.export_kinds("single")


def _prompt_messages(data):
    return data.get("messages") or [{"role": "user", "content": data["prompt"]}]


def _assistant(text):
    return [{"role": "assistant", "content": text}]


def _extras(data):
    return {
        "rationale": "\n\n".join(data.get("rationales") or []),
        "noise": data.get("p_noise"),
        "weight": 1.0 - data["p_noise"] if data.get("p_noise") is not None else 1.0,
        "sources": ",".join(data.get("sources") or []),
        "item_id": data.get("item_id"),
        "controversial": bool(data.get("controversial", False)),
    }


def _margin(export, data):
    return data.get(export.margin_field, export.margin_default) if export else 1.0


def kinds_for(fmt):
    """Which snapshot row kinds a format reads (so the export query can filter in the database)."""
    if fmt in KIND_FORMATS:
        return (KIND_FORMATS[fmt],)
    return {
        "preference": PAIR_KINDS,
        "preference_conversational": PAIR_KINDS,
        "unpaired": PAIR_KINDS + SINGLE_KINDS,
        "unpaired_conversational": PAIR_KINDS + SINGLE_KINDS,
        "edit": ("edit",),
        "labels": ("pairwise",),
        "pluralistic": ("pairwise",),
    }[fmt]


# The conversational format a text format is rendered from when a chat template renders it.
TEXT_TWIN = {
    "preference": "preference_conversational",
    "edit": "preference_conversational",
    "unpaired": "unpaired_conversational",
}
TEXT_COLUMNS = ("prompt", "chosen", "rejected", "completion")


def to_format(kind, data, fmt, render=None):
    """Yield zero or more TRL rows for one snapshot row. `render` (text formats only): a function
    from a conversational row's prompt/completion columns to their text, e.g. a model's chat
    template through TRL's `apply_chat_template`; the plain rendering of text_render.py otherwise."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if kind not in kinds_for(fmt):
        return
    if fmt in KIND_FORMATS:  # prompt/completion as the unpaired text format renders them, then the kind's columns
        yield {
            "prompt": render_prompt(_prompt_messages(data)),
            "completion": render_completion(data["completion"]),
            **kind_registry.get(kind).export_row(fmt, data),
            **_extras(data),
        }
        return
    if fmt == "labels":  # one row per label; the prompt is the whole conversation, as in the text formats
        for label in data.get("labels") or []:
            yield {
                "prompt": render_prompt(_prompt_messages(data)),
                "chosen": render_completion(data["chosen"]),
                "rejected": render_completion(data["rejected"]),
                "annotator": label["annotator"],
                "annotator_kind": label["annotator_kind"],
                "preference": label["preference"],
                "item_id": data.get("item_id"),
                "controversial": bool(data.get("controversial", False)),
            }
        return
    if fmt == "pluralistic":
        for view in data.get("groups") or []:
            a, b = (data["chosen"], data["rejected"]) if view["prefers_chosen"] else (data["rejected"], data["chosen"])
            yield {
                "prompt": render_prompt(_prompt_messages(data)),
                "chosen": render_completion(a),
                "rejected": render_completion(b),
                "group": view["group"],
                "item_id": data.get("item_id"),
                "controversial": bool(data.get("controversial", False)),
            }
        return
    if render is not None and fmt in TEXT_TWIN:
        for row in to_format(kind, data, TEXT_TWIN[fmt]):
            yield {**row, **render({k: row[k] for k in TEXT_COLUMNS if k in row})}
        return
    extras = _extras(data)
    export = kind_registry.get(kind).export
    if fmt in ("preference", "edit"):
        margin = _margin(export, data)
        yield {
            "prompt": render_prompt(_prompt_messages(data)),
            "chosen": render_completion(data["chosen"]),
            "rejected": render_completion(data["rejected"]),
            "margin": margin,
            **extras,
        }
    elif fmt == "preference_conversational":
        margin = _margin(export, data)
        yield {
            "prompt": _prompt_messages(data),
            "chosen": [{"role": "assistant", "content": data["chosen"]}],
            "rejected": [{"role": "assistant", "content": data["rejected"]}],
            "margin": margin,
            **extras,
        }
    else:
        if fmt == "unpaired":
            prompt, completion = render_prompt(_prompt_messages(data)), render_completion
        else:
            prompt, completion = _prompt_messages(data), _assistant
        if export is not None and export.shape == "single":
            yield {
                "prompt": prompt,
                "completion": completion(data["completion"]),
                "label": bool(data["label"]),
                **extras,
            }
        else:  # a pair gives one desirable and one undesirable completion
            yield {"prompt": prompt, "completion": completion(data["chosen"]), "label": True, **extras}
            yield {"prompt": prompt, "completion": completion(data["rejected"]), "label": False, **extras}


def iter_export_rows(snapshot, fmt, split=None, chunk_size=2000, render=None, with_kind=False):
    """Stream a snapshot in a TRL format with flat memory (keyset pagination over row ids).
    with_kind: yield (snapshot row kind, TRL row) pairs (per-kind ε of the rows a fine-tune keeps)."""

    qs = SnapshotRow.objects.filter(snapshot=snapshot, kind__in=kinds_for(fmt))
    if split:
        qs = qs.filter(split=split)
    last_id = 0
    while True:
        chunk = list(qs.filter(id__gt=last_id).order_by("id").values_list("id", "kind", "data")[:chunk_size])
        if not chunk:
            return
        for _row_id, kind, data in chunk:
            if with_kind:
                yield from ((kind, row) for row in to_format(kind, data, fmt, render))
            else:
                yield from to_format(kind, data, fmt, render)
        last_id = chunk[-1][0]


def iter_jsonl(snapshot, fmt, split=None, chunk_size=2000, flush_bytes=256 * 1024, render=None):
    """JSONL bytes in chunks of about `flush_bytes` (few, large writes keep the web worker fast)."""
    import json

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    buf, size = [], 0
    for row in iter_export_rows(snapshot, fmt, split=split, chunk_size=chunk_size, render=render):
        line = dumps(row)
        buf.append(line)
        size += len(line)
        if size >= flush_bytes:
            buf.append("")
            yield "\n".join(buf).encode()
            buf, size = [], 0
    if buf:
        buf.append("")
        yield "\n".join(buf).encode()


def _arrow_type(pa, name):
    """A column type a kind declares (`FeedbackKindSpec.export_columns`) as an Arrow type:
    string, int, float, list<scalar> or map<scalar,scalar>."""
    scalar = {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}
    if name.startswith("list<"):
        return pa.list_(scalar[name[5:-1]])
    if name.startswith("map<"):
        key, item = name[4:-1].split(",")
        return pa.map_(scalar[key], scalar[item])
    return scalar[name]


def arrow_schema(fmt):
    import pyarrow as pa

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    extras = [
        ("rationale", pa.string()),
        ("noise", pa.float64()),
        ("weight", pa.float64()),
        ("sources", pa.string()),
        ("item_id", pa.int64()),
        ("controversial", pa.bool_()),
    ]
    if fmt in KIND_FORMATS:
        own = kind_registry.get(KIND_FORMATS[fmt]).export_columns(fmt)
        head = [("prompt", pa.string()), ("completion", pa.string())]
        return pa.schema(head + [(name, _arrow_type(pa, t)) for name, t in own.items()] + extras)
    if fmt == "labels":
        return pa.schema(
            [
                ("prompt", pa.string()),
                ("chosen", pa.string()),
                ("rejected", pa.string()),
                ("annotator", pa.string()),
                ("annotator_kind", pa.string()),
                ("preference", pa.int64()),
                ("item_id", pa.int64()),
                ("controversial", pa.bool_()),
            ]
        )
    if fmt == "pluralistic":
        return pa.schema(
            [
                ("prompt", pa.string()),
                ("chosen", pa.string()),
                ("rejected", pa.string()),
                ("group", pa.int64()),
                ("item_id", pa.int64()),
                ("controversial", pa.bool_()),
            ]
        )
    if fmt in ("preference", "edit"):
        head = [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()), ("margin", pa.float64())]
    elif fmt == "preference_conversational":
        head = [("prompt", message), ("chosen", message), ("rejected", message), ("margin", pa.float64())]
    elif fmt == "unpaired":
        head = [("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())]
    elif fmt == "unpaired_conversational":
        head = [("prompt", message), ("completion", message), ("label", pa.bool_())]
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return pa.schema(head + extras)


def write_parquet(snapshot, fmt, out, split=None, row_group_size=10000, engine="python", render=None):
    """Write a snapshot export as Parquet into a binary file object, one row group at a time.
    engine="copy" (PostgreSQL): the JSONL from COPY is parsed by Arrow's C++ JSON reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(fmt)
    if engine == "copy":
        return _write_parquet_from_jsonl(iter_jsonl_copy(snapshot, fmt, split=split, flush_bytes=2 << 20), schema, out)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch = []
        for row in iter_export_rows(snapshot, fmt, split=split, render=render):
            batch.append(row)
            if len(batch) >= row_group_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return out


def _write_parquet_from_jsonl(chunks, schema, out):
    """Each chunk (whole lines) becomes one row group, parsed against the schema."""
    import io

    import pyarrow.json as pj
    import pyarrow.parquet as pq

    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for chunk in chunks:
            table = pj.read_json(
                io.BytesIO(chunk), parse_options=options, read_options=pj.ReadOptions(block_size=len(chunk) + 1)
            )
            writer.write_table(table.select(schema.names).cast(schema))
    return out


# PostgreSQL fast path: the database renders the TRL rows itself and streams them with COPY, so
# the web process only forwards bytes (no JSON decode/encode per row). Lines are built by text
# concatenation of jsonb values (their text form is valid JSON, and it is much faster than
# json_build_object). It must produce exactly what `to_format` produces:
# tests/test_export_api.py compares the two row by row.
def _sql_joined(key, sep):
    """JSON string of a text list joined by sep (the common 0/1-element cases skip the subquery)."""
    v = f"data->'{key}'"
    return (
        f"CASE WHEN jsonb_typeof({v}) IS DISTINCT FROM 'array' OR jsonb_array_length({v}) = 0 THEN '\"\"' "
        f"WHEN jsonb_array_length({v}) = 1 THEN ({v}->0)::text "
        f"ELSE to_json(array_to_string(ARRAY(SELECT jsonb_array_elements_text({v})), {sep}))::text END"
    )


def _sql_json(expr, default="null"):
    return f"COALESCE(({expr})::text, '{default}')"


_SQL_CONTROVERSIAL = "CASE WHEN data->'controversial' = 'true'::jsonb THEN 'true' ELSE 'false' END"
_SQL_ITEM_ID = _sql_json("data->'item_id'")
_SQL_EXTRAS = (
    "',\"rationale\":', " + _sql_joined("rationales", "E'\\n\\n'") + ", "
    "',\"noise\":', " + _sql_json("data->'p_noise'") + ", "
    "',\"weight\":', CASE WHEN jsonb_typeof(data->'p_noise') = 'number' "
    "THEN (1.0::float8 - (data->>'p_noise')::float8)::text ELSE '1.0' END, "
    "',\"sources\":', " + _sql_joined("sources", "','") + ", "
    "',\"item_id\":', " + _sql_json("data->'item_id'") + ", "
    "',\"controversial\":', " + _SQL_CONTROVERSIAL + ", '}'"
)
# The margin column as each pair kind defines it (field and default), from the registry; the
# kinds are registered keys and the fields identifiers of the code, never user input.
_SQL_MARGIN = (
    "CASE "
    + " ".join(
        f"WHEN kind = '{spec.key}' THEN COALESCE((data->'{spec.export.margin_field}')::text, "
        f"'{float(spec.export.margin_default)}')"
        for spec in kind_registry.all_kinds()
        if spec.export is not None and spec.export.shape == "pair"
    )
    + " ELSE '1.0' END"
)
_SQL_SINGLE = "kind IN (" + ", ".join(f"'{k}'" for k in SINGLE_KINDS) + ")"
_SQL_MESSAGES = (
    "CASE WHEN jsonb_typeof(data->'messages') = 'array' AND jsonb_array_length(data->'messages') > 0 "
    "THEN (data->'messages')::text ELSE concat('[{\"role\":\"user\",\"content\":', (data->'prompt')::text, '}]') END"
)


# text_render.render_prompt in SQL. to_json() of the concatenated text is faster than splicing the
# escaped jsonb text (substr/length count characters, which is slow on long UTF-8 text).
_SQL_ROLE = (
    "CASE m->>'role' WHEN 'user' THEN 'Human' WHEN 'assistant' THEN 'Assistant' "
    "ELSE upper(left(m->>'role', 1)) || lower(substr(m->>'role', 2)) END"
)
_SQL_TEXT_PROMPT = (
    "to_json(CASE WHEN jsonb_typeof(data->'messages') = 'array' AND jsonb_array_length(data->'messages') > 0 "
    "THEN concat((SELECT string_agg(concat(E'\\n\\n', " + _SQL_ROLE + ", ': ', m->>'content'), '' ORDER BY o) "
    "FROM jsonb_array_elements(data->'messages') WITH ORDINALITY AS t(m, o)), E'\\n\\nAssistant:') "
    "ELSE concat(E'\\n\\nHuman: ', data->>'prompt', E'\\n\\nAssistant:') END)::text"
)


def _sql_completion(text_expr):
    """text_render.render_completion of a text expression, as a JSON string."""
    return f"to_json(' ' || ({text_expr}))::text"


def _sql_line(fmt):
    chosen, rejected = _sql_completion("data->>'chosen'"), _sql_completion("data->>'rejected'")
    if fmt == "labels":
        return (
            f"concat('{{\"prompt\":', {_SQL_TEXT_PROMPT}, ',\"chosen\":', {chosen}, ',\"rejected\":', {rejected}, "
            "',\"annotator\":', (lab.v->'annotator')::text, ',\"annotator_kind\":', (lab.v->'annotator_kind')::text, "
            "',\"preference\":', (lab.v->'preference')::text, "
            f"',\"item_id\":', {_SQL_ITEM_ID}, ',\"controversial\":', {_SQL_CONTROVERSIAL}, '}}')"
        )
    if fmt == "pluralistic":
        first = "CASE WHEN lab.v->'prefers_chosen' = 'true'::jsonb THEN {} ELSE {} END"
        return (
            f"concat('{{\"prompt\":', {_SQL_TEXT_PROMPT}, ',\"chosen\":', {first.format(chosen, rejected)}, "
            f"',\"rejected\":', {first.format(rejected, chosen)}, ',\"group\":', (lab.v->'group')::text, "
            f"',\"item_id\":', {_SQL_ITEM_ID}, ',\"controversial\":', {_SQL_CONTROVERSIAL}, '}}')"
        )
    if fmt in ("preference", "edit"):
        return (
            f"concat('{{\"prompt\":', {_SQL_TEXT_PROMPT}, ',\"chosen\":', {chosen}, "
            f"',\"rejected\":', {rejected}, ',\"margin\":', {_SQL_MARGIN}, {_SQL_EXTRAS})"
        )
    if fmt == "preference_conversational":
        return (
            f"concat('{{\"prompt\":', {_SQL_MESSAGES}, "
            '\',"chosen":[{"role":"assistant","content":\', (data->\'chosen\')::text, \'}]\', '
            '\',"rejected":[{"role":"assistant","content":\', (data->\'rejected\')::text, \'}]\', '
            f"',\"margin\":', {_SQL_MARGIN}, {_SQL_EXTRAS})"
        )
    side = f"CASE WHEN {_SQL_SINGLE} THEN data->>'completion' WHEN side.n = 1 THEN data->>'chosen' ELSE data->>'rejected' END"
    if fmt == "unpaired":
        prompt, completion = _SQL_TEXT_PROMPT, _sql_completion(side)
    else:
        prompt, completion = (
            _SQL_MESSAGES,
            f'concat(\'[{{"role":"assistant","content":\', to_json({side})::text, \'}}]\')',
        )
    return (
        f"concat('{{\"prompt\":', {prompt}, ',\"completion\":', {completion}, "
        f"',\"label\":', CASE WHEN (CASE WHEN {_SQL_SINGLE} THEN (data->'label')::boolean ELSE side.n = 1 END) "
        f"THEN 'true' ELSE 'false' END, {_SQL_EXTRAS})"
    )


def export_sql(snapshot_id, fmt, split=None):
    """(sql, params) selecting one JSON text line per TRL row, in `iter_export_rows` order."""

    if fmt not in FORMATS or fmt in KIND_FORMATS:
        raise ValueError(
            f"no SQL rendering of format {fmt!r}; one of {', '.join(f for f in FORMATS if f not in KIND_FORMATS)}"
        )
    table = SnapshotRow._meta.db_table
    kinds = list(kinds_for(fmt))
    where = "snapshot_id = %s AND kind = ANY(%s)" + (" AND split = %s" if split else "")
    if fmt in ("labels", "pluralistic"):
        key = "labels" if fmt == "labels" else "groups"
        source = (
            f"{table} CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(data->'{key}') = 'array' "
            f"THEN data->'{key}' ELSE '[]'::jsonb END) WITH ORDINALITY AS lab(v, n)"
        )
        order = "id, lab.n"
    elif fmt in UNPAIRED:
        source = f"{table} CROSS JOIN LATERAL (VALUES (1), (2)) AS side(n)"
        where += f" AND (NOT {_SQL_SINGLE} OR side.n = 1)"
        order = "id, side.n"
    else:
        source, order = table, "id"
    sql = f"SELECT {_sql_line(fmt)} FROM {source} WHERE {where} ORDER BY {order}"
    return sql, [snapshot_id, kinds] + ([split] if split else [])


def iter_jsonl_copy(snapshot, fmt, split=None, flush_bytes=256 * 1024):
    """JSONL bytes straight from PostgreSQL's COPY. CSV mode with a delimiter and quote that JSON
    text never contains (json output escapes control characters) writes each line verbatim."""
    from django.db import connection

    if fmt in KIND_FORMATS:  # a kind's own format has no SQL twin: its rows come from Python
        yield from iter_jsonl(snapshot, fmt, split=split, flush_bytes=flush_bytes)
        return
    sql, params = export_sql(snapshot.pk, fmt, split)
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
    with connection.cursor() as cursor:
        buf, size = [], 0
        with cursor.cursor.copy(copy_sql, params) as copy:
            for block in copy:
                buf.append(block)
                size += len(block)
                if size >= flush_bytes:
                    yield b"".join(buf)
                    buf, size = [], 0
        if buf:
            yield b"".join(buf)


def can_copy():
    from django.db import connection

    return connection.vendor == "postgresql"
