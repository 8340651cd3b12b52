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
ranking   one pairwise-shaped row per implied pair (chosen ranked above rejected), "margin": the
           difference in mean rank, "positions": [better, worse]
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

Which kinds a format reads comes from the feedback kinds (annotate.kinds): a kind whose export shape
is "pair" (pairwise, edit, ranking) feeds the pair formats, one whose shape is "single" (binary) the
unpaired ones, with its margin field; a kind may also contribute formats of its own
(`FeedbackKindSpec.export_formats`, Likert's two above), rendered in Python only.

Each format is one class below (its key, the snapshot row kinds it reads, its columns, its row
builder and its SQL twin in curation/format_sql.py), registered in `FORMATS`; the export API,
snapshots' manifests and counts, the fine-tunes and the `export_snapshot` command all read that
registry, so a new format is one class here. The file types rows are written as (JSONL, Parquet)
are a second, smaller registry, `FILE_TYPES`: key, media type, extension, writer.

Every row carries `controversial`: true when the project's preference groups explain the item's
disagreement (curation.pluralism), so trainers can tell opinion from noise.
"""

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from django.db import connection
from psycopg.sql import Composable

from annotate.kinds import registry as kind_registry
from curation import format_sql as q
from curation.models import SnapshotRow
from curation.text_render import render_completion, render_prompt

PAIR_KINDS: tuple[str, ...] = kind_registry.export_kinds("pair")
SINGLE_KINDS: tuple[str, ...] = kind_registry.export_kinds("single")
ALL_KINDS: tuple[str, ...] = PAIR_KINDS + SINGLE_KINDS
TEXT_COLUMNS = ("prompt", "chosen", "rejected", "completion")

# Column types, named once; `arrow_schema` maps them to Arrow types.
TEXT, MESSAGES, FLOAT, INT, BOOL = "text", "messages", "float", "int", "bool"
EXTRA_COLUMNS = (
    ("rationale", TEXT),
    ("noise", FLOAT),
    ("weight", FLOAT),
    ("sources", TEXT),
    ("item_id", INT),
    ("controversial", BOOL),
)


def _prompt_messages(data):
    return data.get("messages") or [{"role": "user", "content": data["prompt"]}]


def _assistant(text):
    return [{"role": "assistant", "content": text}]


def _controversial(data):
    return bool(data.get("controversial", False))


def _extras(data):
    return {
        "rationale": "\n\n".join(data.get("rationales") or []),
        "noise": data.get("p_noise"),
        "weight": 1.0 - data["p_noise"] if data.get("p_noise") is not None else 1.0,
        "sources": ",".join(data.get("sources") or []),
        "item_id": data.get("item_id"),
        "controversial": _controversial(data),
    }


def _margin(kind, data):
    """The margin column as the kind defines it (pairwise: |preference|, edit: edit distance, ...)."""
    export = kind_registry.get(kind).export
    return data.get(export.margin_field, export.margin_default) if export else 1.0


class ExportFormat:
    """A TRL dataset format of snapshot rows.

    key       the `?format=` value
    kinds     the snapshot row kinds it reads (the export query filters on them in the database)
    columns   (name, type) of its rows, in order
    listed    rows come one per element of this list in the row's data ("" when not)
    text_twin the conversational format a chat template renders this text format from ("" when none)
    sql_rows  how its SQL twin walks a snapshot row (format_sql.ONE, LISTED or SIDES)"""

    key: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]]
    columns: ClassVar[tuple[tuple[str, str], ...]]
    listed: ClassVar[str] = ""
    text_twin: ClassVar[str] = ""
    sql_rows: ClassVar[str] = q.ONE

    def rows(self, kind: str, data: dict) -> Iterator[dict]:
        raise NotImplementedError

    def sql_line(self) -> Composable | None:
        """One JSON text line per row, in SQL (the COPY fast path); None when there is no twin."""
        return None

    def rows_per_row(self, kind: str, data: dict | None = None) -> int:
        """How many export rows one snapshot row of `kind` gives (the snapshot's counts)."""
        if kind not in self.kinds:
            return 0
        return len((data or {}).get(self.listed) or []) if self.listed else 1


class Preference(ExportFormat):
    key = "preference"
    kinds = PAIR_KINDS
    columns = (("prompt", TEXT), ("chosen", TEXT), ("rejected", TEXT), ("margin", FLOAT), *EXTRA_COLUMNS)
    text_twin = "preference_conversational"

    def rows(self, kind, data):
        yield {
            "prompt": render_prompt(_prompt_messages(data)),
            "chosen": render_completion(data["chosen"]),
            "rejected": render_completion(data["rejected"]),
            "margin": _margin(kind, data),
            **_extras(data),
        }

    def sql_line(self):
        return q.concat(
            '{"prompt":', q.TEXT_PROMPT, ',"chosen":', q.CHOSEN, ',"rejected":', q.REJECTED, ',"margin":', q.MARGIN,
            *q.EXTRAS,
        )  # fmt: skip


class Edit(Preference):
    """Edit rows only: the edited response preferred to the original."""

    key = "edit"
    kinds = ("edit",)


class PreferenceConversational(ExportFormat):
    key = "preference_conversational"
    kinds = PAIR_KINDS
    columns = (("prompt", MESSAGES), ("chosen", MESSAGES), ("rejected", MESSAGES), ("margin", FLOAT), *EXTRA_COLUMNS)

    def rows(self, kind, data):
        yield {
            "prompt": _prompt_messages(data),
            "chosen": _assistant(data["chosen"]),
            "rejected": _assistant(data["rejected"]),
            "margin": _margin(kind, data),
            **_extras(data),
        }

    def sql_line(self):
        return q.concat(
            '{"prompt":', q.MESSAGES,
            ',"chosen":', q.assistant(q.json_text(q.field("chosen"))),
            ',"rejected":', q.assistant(q.json_text(q.field("rejected"))),
            ',"margin":', q.MARGIN, *q.EXTRAS,
        )  # fmt: skip


class Unpaired(ExportFormat):
    """For KTO/BCO: binary rows, and both sides of every pair (desirable, then undesirable)."""

    key = "unpaired"
    kinds = ALL_KINDS
    columns = (("prompt", TEXT), ("completion", TEXT), ("label", BOOL), *EXTRA_COLUMNS)
    text_twin = "unpaired_conversational"
    sql_rows = q.SIDES

    def prompt(self, data):
        return render_prompt(_prompt_messages(data))

    def completion(self, text):
        return render_completion(text)

    def rows(self, kind, data):
        prompt, extras = self.prompt(data), _extras(data)
        if kind in SINGLE_KINDS:
            yield {
                "prompt": prompt,
                "completion": self.completion(data["completion"]),
                "label": bool(data["label"]),
                **extras,
            }
            return
        yield {"prompt": prompt, "completion": self.completion(data["chosen"]), "label": True, **extras}
        yield {"prompt": prompt, "completion": self.completion(data["rejected"]), "label": False, **extras}

    def rows_per_row(self, kind, data=None):
        return 0 if kind not in self.kinds else 1 if kind in SINGLE_KINDS else 2

    def sql_line(self):
        return q.concat(
            '{"prompt":', q.TEXT_PROMPT, ',"completion":', q.completion(q.SIDE), ',"label":', q.SIDE_LABEL, *q.EXTRAS
        )


class UnpairedConversational(Unpaired):
    key = "unpaired_conversational"
    columns = (("prompt", MESSAGES), ("completion", MESSAGES), ("label", BOOL), *EXTRA_COLUMNS)
    text_twin = ""

    def prompt(self, data):
        return _prompt_messages(data)

    def completion(self, text):
        return _assistant(text)

    def sql_line(self):
        return q.concat(
            '{"prompt":', q.MESSAGES, ',"completion":', q.assistant(q.SQL("to_json({})::text").format(q.SIDE)),
            ',"label":', q.SIDE_LABEL, *q.EXTRAS,
        )  # fmt: skip


class Labels(ExportFormat):
    """One row per individual pairwise label; the prompt is the whole conversation, as in the text formats."""

    key = "labels"
    kinds = ("pairwise",)
    columns = (
        ("prompt", TEXT),
        ("chosen", TEXT),
        ("rejected", TEXT),
        ("annotator", TEXT),
        ("annotator_kind", TEXT),
        ("preference", INT),
        ("item_id", INT),
        ("controversial", BOOL),
    )
    listed = "labels"
    sql_rows = q.LISTED

    def rows(self, kind, data):
        for label in data.get("labels") or []:
            yield {
                "prompt": render_prompt(_prompt_messages(data)),
                "chosen": render_completion(data["chosen"]),
                "rejected": render_completion(data["rejected"]),
                "annotator": label["annotator"],
                "annotator_kind": label["annotator_kind"],
                "preference": label["preference"],
                "item_id": data.get("item_id"),
                "controversial": _controversial(data),
            }

    def sql_line(self):
        return q.concat(
            '{"prompt":', q.TEXT_PROMPT, ',"chosen":', q.CHOSEN, ',"rejected":', q.REJECTED,
            ',"annotator":', q.listed_value("annotator"), ',"annotator_kind":', q.listed_value("annotator_kind"),
            ',"preference":', q.listed_value("preference"),
            ',"item_id":', q.ITEM_ID, ',"controversial":', q.CONTROVERSIAL, "}",
        )  # fmt: skip


class Pluralistic(ExportFormat):
    """Pairwise rows as each preference group sees them: chosen/rejected swapped for a group that
    prefers the other response."""

    key = "pluralistic"
    kinds = ("pairwise",)
    columns = (
        ("prompt", TEXT),
        ("chosen", TEXT),
        ("rejected", TEXT),
        ("group", INT),
        ("item_id", INT),
        ("controversial", BOOL),
    )
    listed = "groups"
    sql_rows = q.LISTED

    def rows(self, kind, data):
        for view in data.get("groups") or []:
            a, b = (data["chosen"], data["rejected"]) if view["prefers_chosen"] else (data["rejected"], data["chosen"])
            yield {
                "prompt": render_prompt(_prompt_messages(data)),
                "chosen": render_completion(a),
                "rejected": render_completion(b),
                "group": view["group"],
                "item_id": data.get("item_id"),
                "controversial": _controversial(data),
            }

    def sql_line(self):
        first = q.SQL("CASE WHEN lab.v->'prefers_chosen' = 'true'::jsonb THEN {} ELSE {} END")
        return q.concat(
            '{"prompt":', q.TEXT_PROMPT,
            ',"chosen":', first.format(q.CHOSEN, q.REJECTED), ',"rejected":', first.format(q.REJECTED, q.CHOSEN),
            ',"group":', q.listed_value("group"),
            ',"item_id":', q.ITEM_ID, ',"controversial":', q.CONTROVERSIAL, "}",
        )  # fmt: skip


class KindFormat(ExportFormat):
    """A format a feedback kind contributes for its own rows (`FeedbackKindSpec.export_formats`):
    prompt and completion rendered like the unpaired text format, then the kind's columns. Python
    only (no SQL twin). `kind_format` makes one per (format, kind)."""

    def rows(self, kind, data):
        yield {
            "prompt": render_prompt(_prompt_messages(data)),
            "completion": render_completion(data["completion"]),
            **kind_registry.get(kind).export_row(self.key, data),
            **_extras(data),
        }


def kind_format(key: str, kind: str) -> ExportFormat:
    own = tuple(kind_registry.get(kind).export_columns(key).items())
    columns = (("prompt", TEXT), ("completion", TEXT), *own, *EXTRA_COLUMNS)
    return type(f"KindFormat[{key}]", (KindFormat,), {"key": key, "kinds": (kind,), "columns": columns})()


FORMATS: dict[str, ExportFormat] = {
    cls.key: cls()
    for cls in (Preference, PreferenceConversational, Unpaired, UnpairedConversational, Edit, Labels, Pluralistic)
}
FORMATS.update({key: kind_format(key, kind) for key, kind in kind_registry.kind_formats().items()})


class UnknownFormat(ValueError):
    pass


def export_format(key: str) -> ExportFormat:
    try:
        return FORMATS[key]
    except KeyError:
        raise UnknownFormat(f"unknown format {key!r}; one of {', '.join(FORMATS)}") from None


def kinds_for(fmt: str) -> tuple[str, ...]:
    """Which snapshot row kinds a format reads (so the export query can filter in the database)."""
    return export_format(fmt).kinds


def to_format(kind, data, fmt, render=None):
    """Yield zero or more TRL rows for one snapshot row. `render` (text formats only): a function
    from a conversational row's prompt/completion columns to their text, e.g. a model's chat
    template through TRL's `apply_chat_template`; the plain rendering of text_render.py otherwise."""
    spec = export_format(fmt)
    if kind not in spec.kinds:
        return
    if render is not None and spec.text_twin:
        for row in FORMATS[spec.text_twin].rows(kind, data):
            yield {**row, **render({k: row[k] for k in TEXT_COLUMNS if k in row})}
        return
    yield from spec.rows(kind, data)


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


def arrow_schema(fmt):
    import pyarrow as pa

    types = {
        TEXT: pa.string(),
        MESSAGES: pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        FLOAT: pa.float64(),
        INT: pa.int64(),
        BOOL: pa.bool_(),
    }
    return pa.schema([(name, types.get(kind) or _arrow_type(pa, kind)) for name, kind in export_format(fmt).columns])


def _arrow_type(pa, name):
    """A column type a kind declares (`FeedbackKindSpec.export_columns`): string, int, float,
    list<scalar> or map<scalar,scalar>."""
    scalar = {"string": pa.string(), "int": pa.int64(), "float": pa.float64()}
    if name.startswith("list<"):
        return pa.list_(scalar[name[5:-1]])
    if name.startswith("map<"):
        key, item = name[4:-1].split(",")
        return pa.map_(scalar[key], scalar[item])
    return scalar[name]


def write_parquet(snapshot, fmt, out, split=None, row_group_size=10000, engine="python", render=None):
    """Write a snapshot export as Parquet into a binary file object, one row group at a time.
    engine="copy" (PostgreSQL): the JSONL from COPY is parsed by Arrow's C++ JSON reader."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(fmt)
    if engine == "copy" and export_format(fmt).sql_line() is not None:
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


def export_sql(snapshot_id, fmt, split=None):
    """(query, params): one JSON text line per TRL row, in `iter_export_rows` order (the SQL twin)."""
    spec = export_format(fmt)
    line = spec.sql_line()
    if line is None:
        raise UnknownFormat(f"format {fmt!r} has no SQL twin; use engine python")
    query = q.export_query(SnapshotRow._meta.db_table, line, spec.sql_rows, spec.listed, split=bool(split))
    return query, [snapshot_id, list(spec.kinds)] + ([split] if split else [])


def iter_jsonl_copy(snapshot, fmt, split=None, flush_bytes=256 * 1024):
    """JSONL bytes straight from PostgreSQL's COPY of the format's SQL twin."""
    query, params = export_sql(snapshot.pk, fmt, split)
    with connection.cursor() as cursor:
        buf, size = [], 0
        with connection.wrap_database_errors, cursor.cursor.copy(q.copy_query(query), params) as copy:
            for block in copy:
                buf.append(block)
                size += len(block)
                if size >= flush_bytes:
                    yield b"".join(buf)
                    buf, size = [], 0
        if buf:
            yield b"".join(buf)


def can_copy(fmt: str | None = None) -> bool:
    """Whether the COPY fast path serves here (PostgreSQL), for `fmt` when given (it has a twin)."""
    return connection.vendor == "postgresql" and (fmt is None or export_format(fmt).sql_line() is not None)


# --- file types -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileType:
    """How export rows are written: JSONL streams as it goes; Parquet's footer comes last, so it is
    written to a temporary file first. `write(snapshot, fmt, out, split, engine, render)`."""

    key: str
    media_type: str
    extension: str
    streams: bool
    write: Callable


def _write_jsonl(snapshot, fmt, out, split=None, engine="python", render=None):
    for chunk in jsonl_chunks(snapshot, fmt, split=split, engine=engine, render=render):
        out.write(chunk)
    return out


FILE_TYPES: dict[str, FileType] = {
    t.key: t
    for t in (
        FileType("jsonl", "application/jsonl", "jsonl", streams=True, write=_write_jsonl),
        FileType("parquet", "application/vnd.apache.parquet", "parquet", streams=False, write=write_parquet),
    )
}


def jsonl_chunks(snapshot, fmt, split=None, engine="python", render=None):
    """JSONL as a stream of byte chunks (what a streaming response sends)."""
    if engine == "copy" and export_format(fmt).sql_line() is not None:  # a format without a twin: Python
        return iter_jsonl_copy(snapshot, fmt, split=split)
    return iter_jsonl(snapshot, fmt, split=split, render=render)
