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

Formats (TRL's documented column names, extra columns are ignored by its trainers):
preference                 prompt/chosen/rejected as text (pairwise and edit rows)
preference_conversational  the same with prompt as a message list and chosen/rejected as [assistant message]
unpaired                   prompt/completion/label for KTO/BCO: binary rows, and both sides of every pair
edit                       edit rows only, edited ≻ original
"""

FORMATS = ("preference", "preference_conversational", "unpaired", "edit")
PAIR_KINDS = ("pairwise", "edit")


def _prompt_messages(data):
    return data.get("messages") or [{"role": "user", "content": data["prompt"]}]


def _extras(data):
    return {
        "rationale": "\n\n".join(data.get("rationales") or []),
        "noise": data.get("p_noise"),
        "weight": 1.0 - data["p_noise"] if data.get("p_noise") is not None else 1.0,
        "sources": ",".join(data.get("sources") or []),
        "item_id": data.get("item_id"),
    }


def kinds_for(fmt):
    """Which snapshot row kinds a format reads (so the export query can filter in the database)."""
    return {
        "preference": PAIR_KINDS,
        "preference_conversational": PAIR_KINDS,
        "unpaired": ("pairwise", "binary", "edit"),
        "edit": ("edit",),
    }[fmt]


def to_format(kind, data, fmt):
    """Yield zero or more TRL rows for one snapshot row."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if kind not in kinds_for(fmt):
        return
    extras = _extras(data)
    if fmt in ("preference", "edit"):
        margin = data.get("margin", 1.0) if kind == "pairwise" else data.get("edit_distance", 0.0)
        yield {"prompt": data["prompt"], "chosen": data["chosen"], "rejected": data["rejected"], "margin": margin, **extras}
    elif fmt == "preference_conversational":
        margin = data.get("margin", 1.0) if kind == "pairwise" else data.get("edit_distance", 0.0)
        yield {
            "prompt": _prompt_messages(data),
            "chosen": [{"role": "assistant", "content": data["chosen"]}],
            "rejected": [{"role": "assistant", "content": data["rejected"]}],
            "margin": margin,
            **extras,
        }
    elif kind == "binary":
        yield {"prompt": data["prompt"], "completion": data["completion"], "label": bool(data["label"]), **extras}
    else:  # a pair gives one desirable and one undesirable completion
        yield {"prompt": data["prompt"], "completion": data["chosen"], "label": True, **extras}
        yield {"prompt": data["prompt"], "completion": data["rejected"], "label": False, **extras}


def iter_export_rows(snapshot, fmt, split=None, chunk_size=2000):
    """Stream a snapshot in a TRL format with flat memory (keyset pagination over row ids)."""
    from .models import SnapshotRow

    qs = SnapshotRow.objects.filter(snapshot=snapshot, kind__in=kinds_for(fmt))
    if split:
        qs = qs.filter(split=split)
    last_id = 0
    while True:
        chunk = list(qs.filter(id__gt=last_id).order_by("id").values_list("id", "kind", "data")[:chunk_size])
        if not chunk:
            return
        for row_id, kind, data in chunk:
            yield from to_format(kind, data, fmt)
        last_id = chunk[-1][0]


def iter_jsonl(snapshot, fmt, split=None, chunk_size=2000, flush_bytes=256 * 1024):
    """JSONL bytes in chunks of about `flush_bytes` (few, large writes keep the web worker fast)."""
    import json

    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    buf, size = [], 0
    for row in iter_export_rows(snapshot, fmt, split=split, chunk_size=chunk_size):
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

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    extras = [("rationale", pa.string()), ("noise", pa.float64()), ("weight", pa.float64()),
              ("sources", pa.string()), ("item_id", pa.int64())]
    if fmt in ("preference", "edit"):
        head = [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()), ("margin", pa.float64())]
    elif fmt == "preference_conversational":
        head = [("prompt", message), ("chosen", message), ("rejected", message), ("margin", pa.float64())]
    elif fmt == "unpaired":
        head = [("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())]
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return pa.schema(head + extras)


def write_parquet(snapshot, fmt, out, split=None, row_group_size=10000):
    """Write a snapshot export as Parquet into a binary file object, one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(fmt)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch = []
        for row in iter_export_rows(snapshot, fmt, split=split):
            batch.append(row)
            if len(batch) >= row_group_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return out
