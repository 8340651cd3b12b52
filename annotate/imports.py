"""Importing prompts, responses, items and existing labels from JSONL, CSV or Parquet.

All or nothing: every row is read and checked first; only then is anything written, in one
transaction. A bad row raises `ImportFileError` naming the file, the line (or Parquet row index)
and the field. Prompts are deduplicated by content hash within the project, responses by text
within their prompt, items by their responses, so importing the same file twice adds nothing.

Labels already in the file (chosen/rejected, scores, preference_strength, label) become
annotations by an `Annotator` of kind `source` named after the source (the file name, or the
`source` argument).
"""
import os
import time
import uuid
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import F, Min

from . import import_shapes as shapes
from .bulk import IdPool, insert_rows
from .import_readers import ReadError, Source, detect_format
from .import_values import FieldError
from .models import Annotation, Annotator, AnnotatorKind, FeedbackKind, Item, Project, Prompt, Response

LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit
SINGLE_KINDS = (FeedbackKind.BINARY, FeedbackKind.EDIT)


class ImportFileError(ValueError):
    """What is wrong with an import file, and where: `data.jsonl line 17, field "chosen": …`."""

    def __init__(self, file, where=None, field=None, message=""):
        self.file, self.where, self.field, self.message = file, where, field, message
        place = " ".join(p for p in (file, where) if p)
        if field:
            place += f', field "{field}"'
        super().__init__(f"{place}: {message}")


@dataclass
class ImportResult:
    file: str
    source: str
    shape: str
    kind: str
    rows: int = 0
    prompts_created: int = 0
    prompts_reused: int = 0
    responses_created: int = 0
    items_created: int = 0
    items_existing: int = 0
    annotations_created: int = 0
    skipped: list = field(default_factory=list)  # ["line 9: chosen and rejected are identical", ...]
    seconds: float = 0.0
    dry_run: bool = False

    def summary(self):
        text = ("checked, nothing written: " if self.dry_run else "") + (f"{self.file}: {_n(self.rows, f'{self.shape} row')} → {_n(self.items_created, f'new {self.kind} item')} "
                f"({self.items_existing} already there), {_n(self.prompts_created, 'new prompt')} ({self.prompts_reused} reused), "
                f"{_n(self.annotations_created, 'label')} by source {self.source!r}, in {self.seconds:.1f}s")
        if self.skipped:
            text += f"; skipped {_n(len(self.skipped), 'pair')} with identical responses (first: {self.skipped[0]})"
        return text


def _n(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def import_items(project, file, *, name=None, fmt=None, shape=None, source=None, as_kind=None, dry_run=False):
    """Import `file` (a path, or an open binary file with `name`) into `project`. Returns ImportResult.

    dry_run: check every row and count what would be created, then roll back."""
    started = time.monotonic()
    if isinstance(file, (str, os.PathLike)):
        name = name or os.path.basename(os.fspath(file))
        with open(file, "rb") as handle:
            return import_items(project, handle, name=name, fmt=fmt, shape=shape, source=source, as_kind=as_kind, dry_run=dry_run)
    name = os.path.basename(name or getattr(file, "name", None) or "upload")
    try:
        reader = Source(file, fmt or detect_format(name))
        shape = _resolve_shape(name, reader.columns, shape)
        kind, single_kind = _resolve_kind(project, name, shape, as_kind, reader.columns)
        result = ImportResult(file=name, source=((source or "").strip() or name)[:200], shape=shape, kind=kind)
        parsed = []
        for where, row in reader:
            try:
                parsed.append(shapes.parse_row(shape, row, where, project.pair_strategy, single_kind))
            except FieldError as exc:
                raise ImportFileError(name, where, exc.field, exc.message) from None
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # data no check foresaw
                raise ImportFileError(name, where, None, f"cannot read this row ({exc!r})") from exc
    except ReadError as exc:
        raise ImportFileError(name, exc.where, None, exc.message) from None
    result.rows = len(parsed)
    try:
        with transaction.atomic():
            _write(project, parsed, result)
            if dry_run:
                transaction.set_rollback(True)
                result.dry_run = True
    except DatabaseError as exc:
        raise ImportFileError(name, None, None, f"the database refused the import, nothing was written ({exc})") from exc
    result.seconds = time.monotonic() - started
    return result


def _resolve_shape(name, columns, shape):
    if shape:
        if shape not in shapes.SHAPES:
            raise ImportFileError(name, None, None, f"unknown shape {shape!r}; expected one of {', '.join(shapes.SHAPES)}")
        return shape
    detected = shapes.detect_shape(columns)
    if detected is None:
        raise ImportFileError(name, None, None, f"cannot tell the shape from the columns {sorted(columns)}; expected prompt/chosen/rejected, "
                              "prompt/completions, prompt/response_1/response_2, prompt/response or messages")
    return detected


def _resolve_kind(project, name, shape, as_kind, columns):
    enabled = set(project.feedback_kinds or [])
    if as_kind is None and "edited" in columns and shape not in shapes.PAIRWISE_SHAPES:
        as_kind = FeedbackKind.EDIT  # rows that carry an edit are edit items
    if shape in shapes.PAIRWISE_SHAPES:
        if as_kind not in (None, FeedbackKind.PAIRWISE):
            raise ImportFileError(name, None, None, f"{shape} rows make pairwise items; --as {as_kind} applies to prompt/response and messages files")
        kind = FeedbackKind.PAIRWISE
    elif as_kind:
        if as_kind not in SINGLE_KINDS:
            raise ImportFileError(name, None, None, f"{shape} rows make binary or edit items, not {as_kind}")
        kind = as_kind
    else:
        kind = FeedbackKind.EDIT if FeedbackKind.BINARY not in enabled and FeedbackKind.EDIT in enabled else FeedbackKind.BINARY
    if kind not in enabled:
        raise ImportFileError(name, None, None, f'project "{project.name}" does not collect {kind} feedback (it has {", ".join(sorted(enabled)) or "none"})')
    return str(kind), (str(kind) if kind in SINGLE_KINDS else None)


def _chunks(values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start:start + LOOKUP_CHUNK]


def _source_annotator(project, result):
    # Sources are scoped to their project: the same name in another project is another annotator.
    annotator, _ = Annotator.objects.get_or_create(project=project, name=result.source, defaults={"kind": AnnotatorKind.SOURCE})
    return annotator


def _write(project, parsed, result):
    # Locks the project row (PostgreSQL) or the database (SQLite) so concurrent imports into one
    # project cannot both create the same prompt, and SQLite ids can be counted up safely.
    Project.objects.filter(pk=project.pk).update(name=F("name"))
    needs_annotator = any(label for row in parsed for *_, label in row.items)
    annotator = _source_annotator(project, result) if needs_annotator else None

    prompts = {}
    for chunk in _chunks({row.hash for row in parsed}):
        found = Prompt.objects.filter(project=project, content_hash__in=chunk).values("content_hash").annotate(first=Min("id"))
        prompts.update((p["content_hash"], p["first"]) for p in found)
    existing_prompts = set(prompts.values())
    responses, items, labelled = {}, {}, set()
    for chunk in _chunks(existing_prompts):
        responses.update(((pid, text), rid) for pid, text, rid in Response.objects.filter(prompt_id__in=chunk).values_list("prompt_id", "text", "id"))
        items.update(((kind, a, b), iid) for kind, a, b, iid in Item.objects.filter(prompt_id__in=chunk).values_list("kind", "response_a_id", "response_b_id", "id"))
    if annotator is not None:
        for chunk in _chunks(items.values()):
            labelled.update(Annotation.objects.filter(annotator=annotator, item_id__in=chunk).values_list("item_id", flat=True))

    # Blocks sized to the most each table can need, so ids come in one round trip per table.
    prompt_ids = IdPool(Prompt, block=max(1, len(parsed)))
    response_ids = IdPool(Response, block=max(1, sum(len(row.responses) for row in parsed)))
    item_ids = IdPool(Item, block=max(1, sum(len(row.items) for row in parsed)))
    new_prompts, new_responses, new_items, new_labels = [], [], [], []
    reused = set()
    for row in parsed:
        pid = prompts.get(row.hash)
        if pid is None:
            pid = prompts[row.hash] = next(prompt_ids)
            new_prompts.append((pid, project.pk, row.text, row.messages, row.metadata, result.source, row.hash))
        elif pid in existing_prompts:
            reused.add(pid)
        rids = []
        for text, model_name, metadata in row.responses:
            rid = responses.get((pid, text))
            if rid is None:
                rid = responses[(pid, text)] = next(response_ids)
                new_responses.append((rid, pid, text, model_name, metadata))
            rids.append(rid)
        for kind, a, b, label in row.items:
            ra, rb = rids[a], (rids[b] if b is not None else None)
            if ra == rb:
                result.skipped.append(f"{row.where}: the two responses are identical")
                continue
            iid, flipped = items.get((kind, ra, rb)), False
            if iid is None and rb is not None and (kind, rb, ra) in items:
                iid, flipped = items[(kind, rb, ra)], True
            if iid is None:
                iid = items[(kind, ra, rb)] = next(item_ids)
                provenance = {"import": {"source": result.source, "file": result.file, "where": row.where}}
                if row.columns:
                    provenance["columns"] = row.columns
                new_items.append((iid, project.pk, pid, kind, ra, rb, provenance))
            else:
                result.items_existing += 1
            if label and iid not in labelled:
                labelled.add(iid)
                preference = label.get("preference")
                if flipped and preference is not None:
                    preference = -preference
                new_labels.append((iid, annotator.pk, kind, preference, label.get("thumbs", ""), label.get("rationale", ""),
                                   label.get("edited_text"), label.get("diff", []), label.get("edit_distance"),
                                   {**label.get("details", {}), "where": row.where}, uuid.uuid4()))

    insert_rows(Prompt, ["id", "project_id", "text", "messages", "metadata", "source", "content_hash"], new_prompts)
    insert_rows(Response, ["id", "prompt_id", "text", "model_name", "metadata"], new_responses)
    insert_rows(Item, ["id", "project_id", "prompt_id", "kind", "response_a_id", "response_b_id", "metadata"], new_items)
    insert_rows(Annotation, ["item_id", "annotator_id", "kind", "preference", "thumbs", "rationale", "edited_text", "diff",
                             "edit_distance", "details", "submission_id"], new_labels)
    result.prompts_created, result.prompts_reused = len(new_prompts), len(reused)
    result.responses_created, result.items_created, result.annotations_created = len(new_responses), len(new_items), len(new_labels)
