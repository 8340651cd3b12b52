"""The one 7-point preference scale: −3 A much better … 0 tie … +3 B much better.

Every label, prompt, form and gold page reads its wording from here (there used to be six copies)."""

from dataclasses import dataclass

PREFERENCE_MIN, PREFERENCE_MAX = -3, 3
PREFERENCE_DOMAIN = list(range(PREFERENCE_MIN, PREFERENCE_MAX + 1))


@dataclass(frozen=True)
class ScalePoint:
    value: int  # −3..3, from A's side
    key: str  # the keyboard key that picks it in the workspace
    short: str  # "A ≫ B"
    label: str  # "A much better"


SCALE = (
    ScalePoint(-3, "1", "A ≫ B", "A much better"),
    ScalePoint(-2, "2", "A > B", "A better"),
    ScalePoint(-1, "3", "A ≳ B", "A slightly better"),
    ScalePoint(0, "4", "Tie", "Tie"),
    ScalePoint(1, "5", "B ≳ A", "B slightly better"),
    ScalePoint(2, "6", "B > A", "B better"),
    ScalePoint(3, "7", "B ≫ A", "B much better"),
)
PREFERENCE_LABELS = {p.value: p.label for p in SCALE}
PREFERENCE_CHOICES = [(p.value, p.label) for p in SCALE]
# The scale as a judge prompt states it.
PROMPT_TEXT = ", ".join(f"{p.value} = {p.label if p.value else 'tie'}" for p in SCALE)


def sign(value: float | None) -> int | None:
    """−1, 0 or +1: which side a value on the scale (or a difference of ranks) prefers."""
    if value is None:
        return None
    return (value > 0) - (value < 0)
