"""What a feedback kind is: the typed contract every kind module fulfils.

A kind (pairwise, binary, edit, ranking, ...) says, in one place, how its form is drawn and keyed,
how a submission is validated into `Annotation` fields, how a gold answer is checked, which way its
label points (`direction`), what agreement is computed over, and how its curated rows export.
Everything else asks `annotate.kinds.registry.get(item.kind)` rather than branching on the key.

Labels reach the hooks either as an `Annotation` or as a row of `curation.labels.label_rows` (a
dict); `value(label, name)` reads a field from either.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError

from annotate.kinds.fields import Errors
from annotate.kinds.judge_prompts import JudgeRequest, JudgeTemplate
from annotate.kinds.replies import Reply
from annotate.kinds.snapshot import SnapshotInput
from annotate.models import Item, Project, Response


def value(label: Any, name: str) -> Any:
    """A label field from an Annotation or a label row."""
    if isinstance(label, Mapping):
        return label.get(name)
    return getattr(label, name, None)


@dataclass(frozen=True)
class GoldVerdict:
    """How a gold answer is shown back to an annotator, in the order they saw the item."""

    answer: str  # "A better", "Thumbs down", "B first"
    rule: str  # what counts as a match


@dataclass(frozen=True)
class ExportShape:
    """How a kind's snapshot rows become TRL rows: "pair" (prompt/chosen/rejected + a margin read
    from `margin_field`) or "single" (prompt/completion/label)."""

    shape: str
    margin_field: str = "margin"
    margin_default: float = 1.0


@dataclass(frozen=True)
class Consensus:
    """The aggregated label of an item's primary labels."""

    preference: float | None = None  # pairwise: the mean preference
    direction: int | None = None  # the collapsed label; 0 = no side
    ranks: list[float] | None = None  # ranking: the mean rank of each response


class FeedbackKindSpec:
    """Base class of a feedback kind. Subclasses set the class attributes and override the hooks
    that apply to them; the defaults describe a kind without gold, direction or agreement."""

    key: ClassVar[str]
    label: ClassVar[str]
    # How many responses an item of this kind shows (min, max).
    response_count: ClassVar[tuple[int, int]] = (1, 1)
    # Templates: the kind's form partial; optional extras drawn in the dock (e.g. the scale), in the
    # actions row (e.g. "Accept as is"), after the form, and shown after a submit instead of the next item.
    form_template: ClassVar[str]
    dock_template: ClassVar[str | None] = None
    actions_template: ClassVar[str | None] = None
    after_form_template: ClassVar[str | None] = None
    result_template: ClassVar[str | None] = None
    # Keyboard keys of the form: key -> what it does (the shortcuts overlay lists them).
    keys: ClassVar[dict[str, str]] = {}
    # The Annotation fields that hold this kind's label.
    label_fields: ClassVar[tuple[str, ...]] = ()
    export: ClassVar[ExportShape | None] = None
    # Krippendorff's α over `agreement_values`: its level of measurement and value domain.
    agreement_level: ClassVar[str | None] = None
    agreement_domain: ClassVar[list | None] = None
    # α separately for each unit suffix (Likert: one α per aspect) as well as over all units.
    agreement_per_unit_suffix: ClassVar[bool] = False
    # Export formats only this kind's rows make (`curation.formats`): rows from `export_row`.
    export_formats: ClassVar[tuple[str, ...]] = ()
    has_gold: ClassVar[bool] = False
    # Whether the kind's labels feed the label-noise model (a direction per item and labeller).
    noise_model: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<feedback kind {self.key}>"

    # --- the workspace -------------------------------------------------------------------------

    def display_responses(self, item: Item, swapped: bool) -> list[Response]:
        """The item's responses in the order the annotator sees them."""
        return [item.response_a]

    def form_context(self, item: Item, project: Project, swapped: bool, values: dict) -> dict:
        """Extra template context for the form partial."""
        return {}

    def data_from_form(self, item: Item, post) -> dict:
        """Display-order submission data from an HTML form (a QueryDict)."""
        raise NotImplementedError

    def clean(self, item: Item, project: Project, swapped: bool, data: dict, errors: Errors) -> dict:
        """Annotation fields (canonical order) from display-order data; problems go into `errors`."""
        raise NotImplementedError

    def form_values(self, annotation, swapped: bool) -> dict:
        """The form's fields for a stored label, in display order (to amend it)."""
        return {}

    def summary(self, annotation, swapped: bool) -> str:
        """A short description of a label as the annotator gave it."""
        return ""

    def derived_fields(self, item: Item, fields: dict) -> dict:
        """Fields computed from the label, never trusted from the client (e.g. an edit's diff)."""
        return {}

    # --- gold ----------------------------------------------------------------------------------

    gold_form_template: ClassVar[str | None] = None  # the answer's field on the gold page

    def gold_form_context(self, project: Project) -> dict:
        """Extra context the gold page's answer field (`gold_form_template`) reads."""
        return {}

    def gold_answer_from_form(self, item: Item, post) -> dict:
        """The gold answer as the gold page's form posts it (cleaned by `clean_gold_answer`)."""
        return {}

    def clean_gold_answer(self, item: Item, answer: Any) -> dict:
        raise ValidationError(f"{self.label} items cannot be gold")

    def gold_correct(self, item: Item, label: Any) -> bool | None:
        """Whether a label matches the item's gold answer; None when not comparable."""
        return None

    def gold_verdict(self, item: Item, swapped: bool) -> GoldVerdict | None:
        return None

    # --- curation ------------------------------------------------------------------------------

    def direction(self, label: Any) -> int | None:
        """Which response the label prefers: −1 A, 0 neither, +1 B (binary: +1 up, −1 down); None
        when the label says nothing about it. The one preference-direction function of Tandem."""
        return None

    def consensus(self, labels: list) -> Consensus:
        """The aggregated label of several labels of one item: by default the majority direction."""
        directions = [d for d in (self.direction(label) for label in labels) if d is not None]
        if not directions:
            return Consensus()
        total = sum(directions)
        return Consensus(direction=(total > 0) - (total < 0))

    def agreement_values(self, label: Any) -> dict[Any, float]:
        """{unit suffix: value} this label contributes to Krippendorff's α (unit = (item, suffix))."""
        return {}

    # --- LM judges ----------------------------------------------------------------------------

    # The default judge prompt templates, by the name a judge's override uses (the key, and any
    # variant, e.g. binary's "binary_no_principles"). Empty: LM judges do not label this kind.
    judge_templates: ClassVar[dict[str, JudgeTemplate]] = {}

    def judge_requests(self, item: Item, overrides: dict) -> list[JudgeRequest]:
        """The requests an LM judge sends for an item; `overrides` are the judge's templates."""
        raise NotImplementedError

    def judge_label(self, item: Item, replies: list[Reply]) -> dict:
        """Annotation fields (with `details`) from the replies to `judge_requests`, in their order."""
        raise NotImplementedError

    # --- export --------------------------------------------------------------------------------

    def snapshot_rows(self, c: SnapshotInput) -> list[dict]:
        """The snapshot rows (`SnapshotRow.data`) of one curated item, in the kind's export shape;
        none for a kind that does not export, or an item that says nothing (a tie)."""
        return []

    def export_columns(self, fmt: str) -> dict[str, str]:
        """The kind's own columns of one of its `export_formats`, and their types (Parquet schema):
        string, int, float, list<string>, list<float>, map<string,int>, map<string,float>."""
        return {}

    def export_row(self, fmt: str, data: dict) -> dict:
        """The kind's own columns of one row of one of its `export_formats`, from snapshot data."""
        return {}
