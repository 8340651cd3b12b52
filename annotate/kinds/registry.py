"""The feedback kinds Tandem knows, chosen by key the way DRF chooses a renderer by format.

`get(item.kind)` is how code asks about a kind; an unknown key is an `UnknownKind` error naming the
known ones. A new kind is a module with a `FeedbackKindSpec` subclass, registered below (or by
`register` from an app's `ready()`); it also needs its key in `annotate.models.FeedbackKind`, since
the database checks the column against that list."""

from annotate.kinds.base import FeedbackKindSpec
from annotate.kinds.binary import BinaryKind
from annotate.kinds.edit import EditKind
from annotate.kinds.likert import LikertKind
from annotate.kinds.pairwise import PairwiseKind
from annotate.kinds.ranking import RankingKind


class UnknownKind(LookupError):
    """No feedback kind is registered under this key."""


_KINDS: dict[str, FeedbackKindSpec] = {}


def register(spec: FeedbackKindSpec) -> FeedbackKindSpec:
    """Add a kind; registering a second kind under a key already taken is an error."""
    if spec.key in _KINDS and type(_KINDS[spec.key]) is not type(spec):
        raise ValueError(f"feedback kind {spec.key!r} is already registered ({_KINDS[spec.key]!r})")
    _KINDS[spec.key] = spec
    return spec


def unregister(key: str) -> None:
    """Remove a kind (a test's toy kind, registered around it); an unknown key is not an error."""
    _KINDS.pop(str(key), None)


def get(key: str) -> FeedbackKindSpec:
    try:
        return _KINDS[str(key)]
    except KeyError:
        raise UnknownKind(f"unknown feedback kind {key!r}; known kinds: {', '.join(sorted(_KINDS))}") from None


def all_kinds() -> list[FeedbackKindSpec]:
    """Every registered kind, in registration order."""
    return list(_KINDS.values())


def keys() -> list[str]:
    return list(_KINDS)


def choices() -> list[tuple[str, str]]:
    """(key, label) of every registered kind: the choices of a form field that picks kinds."""
    return [(k.key, k.label) for k in _KINDS.values()]


def judge_templates() -> dict[str, dict[str, str]]:
    """Every kind's default LM-judge templates, {name: {"system", "user"}} (a kind may have several)."""
    return {name: t.as_dict() for k in _KINDS.values() for name, t in k.judge_templates.items()}


def judge_placeholders() -> dict[str, frozenset[str]]:
    """{template name: the placeholders an override of it may use}."""
    return {name: t.placeholders for k in _KINDS.values() for name, t in k.judge_templates.items()}


def judged() -> list[str]:
    """Keys of the kinds LM judges label (those with judge templates)."""
    return [k.key for k in _KINDS.values() if k.judge_templates]


def with_gold() -> list[str]:
    return [k.key for k in _KINDS.values() if k.has_gold]


def export_kinds(shape: str) -> tuple[str, ...]:
    """Keys of the kinds whose snapshot rows have this export shape ("pair", "single", or a kind's own)."""
    return tuple(k.key for k in _KINDS.values() if k.export is not None and k.export.shape == shape)


def kind_formats() -> dict[str, str]:
    """{export format: kind key} for the formats a kind contributes (`FeedbackKindSpec.export_formats`)."""
    return {fmt: k.key for k in _KINDS.values() for fmt in k.export_formats}


for _spec in (PairwiseKind(), BinaryKind(), EditKind(), LikertKind(), RankingKind()):
    register(_spec)
