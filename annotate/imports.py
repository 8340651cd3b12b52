"""Importing prompts, responses, items and existing labels from JSONL, CSV or Parquet (JSONL and
CSV also gzip- or zstd-compressed).

All or nothing by default: every row is read and checked first, and every bad row is reported in
that one pass (`ImportFileError` lists up to MAX_REPORTED of them, each with the file, the line or
Parquet row index, and the field); only when none is bad is anything written, in one transaction.
With `skip_invalid` the good rows are imported and the bad ones are left out and listed in the
`ImportRecord` every import that writes leaves behind. Prompts are deduplicated by content hash
within the project, responses by text within their prompt, items by their responses, so importing
the same file twice adds nothing. A pair whose two responses are the same text is left out, and
so is its prompt when nothing else uses it.

Labels already in the file (chosen/rejected, scores, preference_strength, AlpacaEval verdicts,
label) become annotations by an `Annotator` of kind `source`, scoped to the project, named after
the source (AlpacaEval's `annotator` column, else `source`, else the file name). Its `label_kind`
says who made them: a model (the default, for every shape) or people (declared with
label_kind="human"); a source is never both.
"""

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, transaction
from django.db.models import F, Min

from annotate import import_shapes as shapes
from annotate.bulk import IdPool, insert_rows
from annotate.import_readers import ReadError, Source, detect_compression, detect_format
from annotate.import_values import FieldError
from annotate.kinds.likert import aspects_of
from annotate.models import (
    Annotation,
    Annotator,
    AnnotatorKind,
    FeedbackKind,
    ImportRecord,
    Item,
    ItemResponse,
    LabelKind,
    Project,
    Prompt,
    Response,
)

LOOKUP_CHUNK = 500  # stays under SQLite's bound-parameter limit
SINGLE_KINDS = (FeedbackKind.BINARY, FeedbackKind.EDIT)
MAX_REPORTED = 100  # bad rows listed in an import error
MAX_RECORDED = 1000  # skipped rows listed in an ImportRecord (all are counted)


@dataclass(frozen=True)
class RowProblem:
    """One bad row: where it is, which field, what is wrong."""

    where: str | None
    field: str | None
    reason: str

    def describe(self, file: str) -> str:
        place = " ".join(p for p in (file, self.where) if p)
        if self.field:
            place += f', field "{self.field}"'
        return f"{place}: {self.reason}" if place else self.reason

    def as_dict(self, file: str) -> dict[str, Any]:
        return {"file": file, "line": self.where, "field": self.field, "reason": self.reason}


class ImportFileError(ValueError):
    """What is wrong with an import file, and where: `data.jsonl line 17, field "chosen": …`, or
    one such line per bad row (`problems`, the first MAX_REPORTED of `total`)."""

    def __init__(self, file, where=None, field=None, message="", *, problems=(), total=None):
        self.per_row = bool(problems)  # bad rows (which skip_invalid could leave out), not a bad file
        self.problems = list(problems) or [RowProblem(where, field, message)]
        self.total = total or len(self.problems)
        first = self.problems[0]
        self.file, self.where, self.field, self.message = file, first.where, first.field, first.reason
        if self.total == 1:
            text = first.describe(file)
        else:
            text = f"{file}: {self.total} bad rows\n" + "\n".join(p.describe(file) for p in self.problems)
            if self.total > len(self.problems):
                text += f"\n... and {self.total - len(self.problems)} more"
        super().__init__(text)


@dataclass
class ImportResult:
    file: str
    source: str
    shape: str
    kind: str
    rows: int = 0  # good rows
    invalid: int = 0  # bad rows left out (skip_invalid)
    problems: list = field(default_factory=list)  # [RowProblem], the first MAX_RECORDED bad rows
    prompts_created: int = 0
    prompts_reused: int = 0
    responses_created: int = 0
    items_created: int = 0
    items_existing: int = 0
    annotations_created: int = 0
    sources: list = field(default_factory=list)  # names of the source annotators that got labels
    label_kind: str = ""  # of those sources; "" when the file held no labels
    identical: list = field(default_factory=list)  # ["line 9", ...]: pairs left out, both responses the same
    seconds: float = 0.0
    dry_run: bool = False
    record_id: int | None = None

    def summary(self) -> str:
        who = ", ".join(repr(s) for s in self.sources) or repr(self.source)
        text = ("checked, nothing written: " if self.dry_run else "") + (
            f"{self.file}: {_n(self.rows, f'{self.shape} row')} → {_n(self.items_created, f'new {self.kind} item')} "
            f"({self.items_existing} already there), {_n(self.prompts_created, 'new prompt')} ({self.prompts_reused} reused), "
            f"{_n(self.annotations_created, 'label')} by source {who}"
            + (f" ({self.label_kind} labels)" if self.label_kind else "")
            + f", in {self.seconds:.1f}s"
        )
        if self.identical:
            text += f"; skipped {_n(len(self.identical), 'pair')} with identical responses (first: {self.identical[0]})"
        if self.invalid:
            text += f"; skipped {_n(self.invalid, 'invalid row')} (first: {self.problems[0].describe(None)})"
            if self.record_id:
                text += f", all listed in import record {self.record_id}"
        return text


def _n(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def import_items(
    project: Project,
    file: str | os.PathLike[str] | IO[bytes],
    *,
    name: str | None = None,
    fmt: str | None = None,
    shape: str | None = None,
    source: str | None = None,
    as_kind: str | None = None,
    label_kind: str | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> ImportResult:
    """Import `file` (a path, or an open binary file with `name`) into `project`. Returns ImportResult.

    label_kind: "judge" or "human", who made the file's labels; None keeps what the source was
    first imported as (judge for a new source). skip_invalid: import the good rows and record
    the bad ones, instead of refusing the whole file. dry_run: check every row and count what
    would be created, then roll back. user: who imported, for the ImportRecord."""
    started = time.monotonic()
    if isinstance(file, (str, os.PathLike)):
        name = name or os.path.basename(os.fspath(file))
        with open(file, "rb") as handle:
            return import_items(
                project,
                handle,
                name=name,
                fmt=fmt,
                shape=shape,
                source=source,
                as_kind=as_kind,
                label_kind=label_kind,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                user=user,
            )
    name = os.path.basename(name or getattr(file, "name", None) or "upload")
    if label_kind not in (None, *LabelKind.values):
        raise ImportFileError(
            name, None, None, f"unknown label kind {label_kind!r}; expected {' or '.join(LabelKind.values)}"
        )
    cap = MAX_RECORDED if skip_invalid else MAX_REPORTED
    problems: list[RowProblem] = []
    invalid = 0
    parsed: list[shapes.ParsedRow] = []
    try:
        reader = Source(file, fmt or detect_format(name), detect_compression(name))
        if reader.columns is None:  # not one readable row to take the columns from
            bad = [RowProblem(where, row.field, row.message) for where, row in reader]
            raise ImportFileError(name, problems=bad[:MAX_REPORTED], total=len(bad))
        shape = _resolve_shape(name, reader.columns, shape)
        kind, single_kind = _resolve_kind(project, name, shape, as_kind, reader.columns)
        aspects = aspects_of(project)
        if shape in shapes.LIKERT_SHAPES and (problem := shapes.rating_columns_problem(reader.columns, aspects)):
            raise ImportFileError(name, None, None, problem)
        result = ImportResult(file=name, source=((source or "").strip() or name)[:200], shape=shape, kind=kind)
        for where, row in reader:
            if type(row) is FieldError:  # the reader could not read this row
                problem = RowProblem(where, row.field, row.message)
            else:
                try:
                    parsed.append(shapes.parse_row(shape, row, where, project.pair_strategy, single_kind, aspects))
                    continue
                except FieldError as exc:
                    problem = RowProblem(where, exc.field, exc.message)
                except (
                    TypeError,
                    ValueError,
                    KeyError,
                    AttributeError,
                    RecursionError,
                    OverflowError,
                ) as exc:  # data no check foresaw
                    problem = RowProblem(where, None, f"cannot read this row ({exc!r:.300})")
            invalid += 1
            if len(problems) < cap:
                problems.append(problem)
    except ReadError as exc:
        raise ImportFileError(name, exc.where, None, exc.message) from None
    if invalid and (not skip_invalid or not parsed):
        raise ImportFileError(name, problems=problems[:MAX_REPORTED], total=invalid)
    result.rows, result.invalid, result.problems = len(parsed), invalid, problems
    try:
        with transaction.atomic():
            _write(project, parsed, result, label_kind)
            if dry_run:
                transaction.set_rollback(True)
                result.dry_run = True
            else:
                result.seconds = time.monotonic() - started
                result.record_id = _record(project, result, skip_invalid, user).pk
    except (DatabaseError, UnicodeError) as exc:
        raise ImportFileError(
            name, None, None, f"the database refused the import, nothing was written ({exc})"
        ) from exc
    result.seconds = time.monotonic() - started
    return result


def _resolve_shape(name, columns, shape):
    if shape:
        if shape not in shapes.SHAPES:
            raise ImportFileError(
                name, None, None, f"unknown shape {shape!r}; expected one of {', '.join(shapes.SHAPES)}"
            )
        return shape
    detected = shapes.detect_shape(columns)
    if detected is None:
        raise ImportFileError(
            name,
            None,
            None,
            f"cannot tell the shape from the columns {sorted(columns)}; expected prompt/chosen/rejected, "
            "prompt/completions, prompt/response_1/response_2, instruction/output_1/output_2, prompt/response or messages",
        )
    return detected


def _resolve_kind(project, name, shape, as_kind, columns):
    enabled = set(project.feedback_kinds or [])
    if as_kind is None and "edited" in columns and shape not in shapes.PAIRWISE_SHAPES:
        as_kind = FeedbackKind.EDIT  # rows that carry an edit are edit items
    if shape == "ranking" or (shape in shapes.RANKABLE_SHAPES and as_kind == FeedbackKind.RANKING):
        kind = FeedbackKind.RANKING  # the parsers read the target kind from single_kind
    elif shape in shapes.LIKERT_SHAPES:
        if as_kind not in (None, FeedbackKind.LIKERT):
            raise ImportFileError(name, None, None, f"{shape} rows make likert items, not {as_kind}")
        kind = FeedbackKind.LIKERT
    elif shape in shapes.PAIRWISE_SHAPES:
        if as_kind not in (None, FeedbackKind.PAIRWISE):
            raise ImportFileError(
                name,
                None,
                None,
                f"{shape} rows make pairwise items; --as {as_kind} applies to prompt/response and messages files",
            )
        kind = FeedbackKind.PAIRWISE
    elif as_kind:
        if as_kind not in SINGLE_KINDS:
            raise ImportFileError(name, None, None, f"{shape} rows make binary or edit items, not {as_kind}")
        kind = as_kind
    else:
        kind = (
            FeedbackKind.EDIT
            if FeedbackKind.BINARY not in enabled and FeedbackKind.EDIT in enabled
            else FeedbackKind.BINARY
        )
    if kind not in enabled:
        raise ImportFileError(
            name,
            None,
            None,
            f'project "{project.name}" does not collect {kind} feedback (it has {", ".join(sorted(enabled)) or "none"})',
        )
    return str(kind), (str(kind) if kind in (*SINGLE_KINDS, FeedbackKind.RANKING) else None)


def _chunks(values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _labels(label):
    """An item carries no label, one, or (HelpSteer2-Preference's individual annotators) a list."""
    return label if isinstance(label, list) else [label] if label else []


def _source_name(label, result):
    return ((label.get("source") or result.source) + label.get("source_suffix", ""))[:200]


def _source_annotators(project, names, label_kind, file, declared=None):
    """{name: Annotator} for the sources whose labels the file holds. Sources are scoped to their
    project (the same name in another project is another annotator). A new source takes
    `label_kind` (judge when undeclared); one imported before keeps its kind, and declaring the
    other kind is refused: its old and new labels would count as different things. `declared`:
    {name: kind} the file itself states (HelpSteer2-Preference's individual annotators are human)."""
    annotators = {}
    for name in sorted(names):
        kind = (declared or {}).get(name) or label_kind
        annotator, created = Annotator.objects.get_or_create(
            project=project, name=name, defaults={"kind": AnnotatorKind.SOURCE, "label_kind": kind or LabelKind.JUDGE}
        )
        if not created and kind and annotator.label_kind != kind:
            raise ImportFileError(
                file,
                None,
                None,
                f"source {name!r} was imported into this project before as {annotator.label_kind} labels "
                f"({annotator.get_label_kind_display().lower()}), not {kind}; import these under another source "
                f"name, or as {annotator.label_kind}",
            )
        annotators[name] = annotator
    return annotators


def _record(project, result, skip_invalid, user):
    return ImportRecord.objects.create(
        project=project,
        file=result.file[:255],
        source=", ".join(result.sources or [result.source])[:200],
        shape=result.shape,
        kind=result.kind,
        label_kind=result.label_kind if result.label_kind in LabelKind.values else "",
        skip_invalid=skip_invalid,
        rows_read=result.rows + result.invalid,
        rows_imported=result.rows,
        rows_skipped=result.invalid,
        identical_pairs=len(result.identical),
        prompts_created=result.prompts_created,
        items_created=result.items_created,
        items_existing=result.items_existing,
        annotations_created=result.annotations_created,
        skipped=[p.as_dict(result.file) for p in result.problems],
        imported_by=user if user is not None and user.is_authenticated else None,
    )


def _distinct(texts, a, b):
    """Whether an item's responses are different texts (a pair of one text twice compares nothing)."""
    indexes = [a, *(b if isinstance(b, tuple) else () if b is None else (b,))]
    return len({texts[i][0] for i in indexes}) == len(indexes)


def _count_human_labels(new_labels, human_sources):
    """Labels from a source declared human count in `Item.human_label_count` as people's labels given
    in Tandem do: the queue does not ask people again for an item the import already has
    `overlap` human labels for, and routing counts them as spent."""
    per_item: dict[int, int] = {}
    for label in new_labels:
        if label[1] in human_sources:
            per_item[label[0]] = per_item.get(label[0], 0) + 1
    by_count: dict[int, list[int]] = {}
    for item_id, n in per_item.items():
        by_count.setdefault(n, []).append(item_id)
    for n, item_ids in by_count.items():
        for chunk in _chunks(item_ids):
            Item.objects.filter(pk__in=chunk).update(human_label_count=F("human_label_count") + n)


def _write(project, parsed, result, label_kind):
    # Locks the project row (PostgreSQL) or the database (SQLite) so concurrent imports into one
    # project cannot both create the same prompt, and SQLite ids can be counted up safely.
    Project.objects.filter(pk=project.pk).update(name=F("name"))
    declared = {
        _source_name(label, result): label.get("label_kind")
        for row in parsed
        for *_, labels in row.items
        for label in _labels(labels)
    }
    names = set(declared)
    annotators = _source_annotators(project, names, label_kind, result.file, declared) if names else {}
    result.sources = sorted(names)
    kinds = {a.label_kind for a in annotators.values()}
    result.label_kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")

    prompts: dict[str, int] = {}
    for chunk in _chunks({row.hash for row in parsed}):
        found = (
            Prompt.objects.filter(project=project, content_hash__in=chunk)
            .values("content_hash")
            .annotate(first=Min("id"))
        )
        prompts.update((p["content_hash"], p["first"]) for p in found)
    existing_prompts = set(prompts.values())
    responses: dict[tuple[int, str], int] = {}
    items: dict[tuple[str, int, int | tuple[int, ...] | None], int] = {}  # (kind, a, b or a ranking's others)
    labelled: set[tuple[int, int]] = set()
    for chunk in _chunks(existing_prompts):
        responses.update(
            ((pid, text), rid)
            for pid, text, rid in Response.objects.filter(prompt_id__in=chunk).values_list("prompt_id", "text", "id")
        )
        items.update(
            ((kind, a, b), iid)
            for kind, a, b, iid in Item.objects.filter(prompt_id__in=chunk).values_list(
                "kind", "response_a_id", "response_b_id", "id"
            )
        )
    ranked: dict[int, list[int]] = {}
    for chunk in _chunks([iid for (kind, _, _), iid in items.items() if kind == FeedbackKind.RANKING]):
        for ranked_item, ranked_response in ItemResponse.objects.filter(item_id__in=chunk).values_list(
            "item_id", "response_id"
        ):
            ranked.setdefault(ranked_item, []).append(ranked_response)  # ordered by (item, position)
    for (kind, a, b), ranked_id in list(items.items()):
        if kind == FeedbackKind.RANKING and ranked_id in ranked:
            del items[(kind, a, b)]
            items[(kind, a, tuple(ranked[ranked_id][1:]))] = ranked_id
    if annotators:
        annotator_ids = [a.pk for a in annotators.values()]
        for chunk in _chunks(items.values()):
            labelled.update(
                Annotation.objects.filter(annotator_id__in=annotator_ids, item_id__in=chunk).values_list(
                    "annotator_id", "item_id"
                )
            )

    # Blocks sized to the most each table can need, so ids come in one round trip per table.
    prompt_ids = IdPool(Prompt, block=max(1, len(parsed)))
    response_ids = IdPool(Response, block=max(1, sum(len(row.responses) for row in parsed)))
    item_ids = IdPool(Item, block=max(1, sum(len(row.items) for row in parsed)))
    new_prompts: list[tuple] = []
    new_responses: list[tuple] = []
    new_items: list[tuple] = []
    new_labels: list[tuple] = []
    new_ranked: list[tuple] = []
    reused = set()
    for row in parsed:
        texts = row.responses
        row_items = [it for it in row.items if _distinct(texts, it[1], it[2])]
        if len(row_items) < len(row.items):
            result.identical.extend([row.where] * (len(row.items) - len(row_items)))
            if not row_items:
                continue  # nothing left of the row: no prompt, no responses
        pid = prompts.get(row.hash)
        if pid is None:
            pid = prompts[row.hash] = next(prompt_ids)
            new_prompts.append((pid, project.pk, row.text, row.messages, row.metadata, result.source, row.hash))
        elif pid in existing_prompts:
            reused.add(pid)
        rids = []
        for (
            text,
            model_name,
            metadata,
        ) in texts:  # all of them: completions best-worst does not pair stay with their prompt
            rid = responses.get((pid, text))
            if rid is None:
                rid = responses[(pid, text)] = next(response_ids)
                new_responses.append((rid, pid, text, model_name, metadata))
            rids.append(rid)
        for kind, a, b, row_label in row_items:
            # b: the other response's index, None (one response), or a ranking's other indexes (a tuple)
            rest = tuple(rids[i] for i in b) if isinstance(b, tuple) else None
            ra, rb = rids[a], (rest[0] if rest else rids[b] if b is not None else None)
            key = (kind, ra, rest if rest else rb)
            iid: int | None
            iid, flipped = items.get(key), False
            if iid is None and rb is not None and not rest and (kind, rb, ra) in items:
                iid, flipped = items[(kind, rb, ra)], True
            if iid is None:
                iid = items[key] = next(item_ids)
                provenance = {"import": {"source": result.source, "file": result.file, "where": row.where}}
                if row.columns:
                    provenance["columns"] = row.columns
                new_items.append((iid, project.pk, pid, kind, ra, rb, provenance))
                if rest:
                    new_ranked.extend((iid, rid, i) for i, rid in enumerate((ra, *rest)))
            else:
                result.items_existing += 1
            for label in _labels(row_label):
                annotator_id = annotators[_source_name(label, result)].pk
                if (annotator_id, iid) in labelled:
                    continue
                labelled.add((annotator_id, iid))
                preference = label.get("preference")
                if flipped and preference is not None:
                    preference = -preference
                new_labels.append(
                    (
                        iid,
                        annotator_id,
                        kind,
                        preference,
                        label.get("thumbs", ""),
                        label.get("rationale", ""),
                        label.get("edited_text"),
                        label.get("diff", []),
                        label.get("edit_distance"),
                        label.get("ranking"),
                        label.get("likert_ratings"),
                        label.get("confidence"),
                        {**label.get("details", {}), "where": row.where},
                        uuid.uuid4(),
                    )
                )

    insert_rows(Prompt, ["id", "project_id", "text", "messages", "metadata", "source", "content_hash"], new_prompts)
    insert_rows(Response, ["id", "prompt_id", "text", "model_name", "metadata"], new_responses)
    insert_rows(
        Item, ["id", "project_id", "prompt_id", "kind", "response_a_id", "response_b_id", "metadata"], new_items
    )
    insert_rows(ItemResponse, ["item_id", "response_id", "position"], new_ranked)
    insert_rows(
        Annotation,
        [
            "item_id",
            "annotator_id",
            "kind",
            "preference",
            "thumbs",
            "rationale",
            "edited_text",
            "diff",
            "edit_distance",
            "ranking",
            "likert_ratings",
            "confidence",
            "details",
            "submission_id",
        ],
        new_labels,
    )
    _count_human_labels(new_labels, {a.pk for a in annotators.values() if a.label_kind == LabelKind.HUMAN})
    result.prompts_created, result.prompts_reused = len(new_prompts), len(reused)
    result.responses_created, result.items_created, result.annotations_created = (
        len(new_responses),
        len(new_items),
        len(new_labels),
    )
