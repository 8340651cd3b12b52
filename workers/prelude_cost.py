"""PRELUDE's metric (Gao et al. 2024): an annotator's cumulative edit cost over time, for responses
generated conditioned on their learned preference versus responses generated without it.

A response is "conditioned" when its generation run inserted this annotator's preference into the
prompt (workers/generation.py records `preference` and `preference_annotator` on the response).
Everything else they edited (imported responses, generation without a preference, or conditioned
on someone else's) is "unconditioned". The cost of one edit is Tandem's stored normalised
word-level edit distance (0..1; an edit accepted as is costs 0), where the paper sums raw
Levenshtein distances: the curves compare the two conditions, not the paper's absolute numbers.
"""

from dataclasses import dataclass, field

from annotate.models import Annotation, AnnotationStatus, Annotator, AnnotatorKind, FeedbackKind, Project

CONDITIONED, UNCONDITIONED = "with preference", "without preference"


@dataclass
class CostCurve:
    """One condition's edits in time order: cumulative[i] = sum of the first i+1 costs."""

    costs: list[float] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    def add(self, cost: float) -> None:
        self.costs.append(cost)
        self.cumulative.append(round((self.cumulative[-1] if self.cumulative else 0.0) + cost, 6))

    @property
    def mean(self) -> float | None:
        return sum(self.costs) / len(self.costs) if self.costs else None


@dataclass
class PreludeCost:
    annotator: str
    conditioned: CostCurve = field(default_factory=CostCurve)
    unconditioned: CostCurve = field(default_factory=CostCurve)


def _is_conditioned(metadata, annotator_id):
    return bool(metadata and metadata.get("preference") and metadata.get("preference_annotator") == annotator_id)


def cost_by_annotator(project: Project, annotator: Annotator | None = None) -> dict[str, "PreludeCost"]:
    """{annotator name: PreludeCost} over the project's human edits, oldest first."""
    rows = Annotation.objects.filter(
        item__project=project,
        kind=FeedbackKind.EDIT,
        status=AnnotationStatus.OK,
        edit_distance__isnull=False,
        annotator__kind=AnnotatorKind.HUMAN,
    )
    if annotator is not None:
        rows = rows.filter(annotator=annotator)
    out: dict[str, PreludeCost] = {}
    for name, annotator_id, cost, metadata in rows.order_by("created_at", "id").values_list(
        "annotator__name", "annotator_id", "edit_distance", "item__response_a__metadata"
    ):
        entry = out.setdefault(name, PreludeCost(name))
        (entry.conditioned if _is_conditioned(metadata, annotator_id) else entry.unconditioned).add(
            float(cost or 0.0)
        )  # edit_distance__isnull=False above
    return out
