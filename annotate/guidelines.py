"""What the workspace's guidelines panel says: the project's own instructions (markdown, written by
its managers) and a fixed paragraph per kind of feedback on how to label that kind well."""

from dataclasses import dataclass

from annotate.models import FeedbackKind

KIND_GUIDANCE = {
    FeedbackKind.PAIRWISE: (
        "Read the prompt, then both responses in full. Pick the point on the scale that says which one "
        "you would rather receive and how strongly; use the tie only when you truly cannot choose. "
        "The left/right order is shuffled, so position means nothing. Aspect ratings (1 poor – 5 "
        "excellent) are optional; a one-line rationale helps more than a long one."
    ),
    FeedbackKind.BINARY: (
        "Judge the response on its own: thumbs up if you would be glad to receive it, thumbs down "
        "otherwise. With a thumbs down, tick every principle it fails and say in a few words what is wrong."
    ),
    FeedbackKind.EDIT: (
        "Change the response until you would be happy to see it, and no further: fix what is wrong, "
        "keep what is right. If it needs no change at all, choose “Accept as is” — that is a label "
        "too (an edit of distance 0), not a skip."
    ),
    FeedbackKind.RANKING: (
        "Read every response, then put them in order, best first: drag a card, or focus it and press its "
        "rank. Give two responses the same rank only when you truly cannot separate them (a tie). The "
        "order they are shown in is shuffled, so position means nothing."
    ),
    FeedbackKind.LIKERT: (
        "Rate the one response on every aspect from 0 to 4, each on its own: a short correct answer can "
        "score low on verbosity and high on correctness. 0 is very poor (or, for complexity and "
        "verbosity, very little), 4 excellent (a lot); every aspect needs a rating."
    ),
}


@dataclass(frozen=True)
class KindGuidance:
    kind: str
    label: str
    text: str


def kind_guidance(project):
    """Guidance for each kind of feedback this project asks for, in the project's order."""
    kinds = [k for k in (project.feedback_kinds or []) if k in KIND_GUIDANCE] or list(KIND_GUIDANCE)
    return [KindGuidance(k, FeedbackKind(k).label, KIND_GUIDANCE[k]) for k in kinds]
