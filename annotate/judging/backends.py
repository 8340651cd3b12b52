"""Judge backends, chosen by key: `LMJudge.backend` names one, as Django's SESSION_ENGINE or DRF's
renderer classes name theirs. Each backend is one small class (`annotate.judging.base.JudgeBackend`)
in its own module:

    transformers   a local transformers model, batched, GPU when present   (local_backend)
    openai         any OpenAI-compatible chat-completions server            (openai_backend)
    reward_model   a sequence-classification reward model, scores pairs     (reward_backends)
    embedding_rm   a Bradley–Terry head on MiniLM embeddings, scores pairs  (reward_backends)

A deployment adds its own without touching this module: `TANDEM_JUDGE_BACKENDS` (settings
`JUDGE_BACKENDS`) lists dotted paths of JudgeBackend subclasses, registered under their `key`.
An unknown key is a `BackendError` that lists the known ones.
"""

import functools

from django.conf import settings
from django.utils.module_loading import import_string

from annotate.judging.base import (
    BackendError,
    JudgeBackend,
    PairScore,
    RequestFailed,
    TransientBackendError,
    generation_parameters,
)
from annotate.judging.local_backend import TransformersBackend
from annotate.judging.openai_backend import OpenAIBackend
from annotate.judging.reward_backends import EmbeddingRewardBackend, SequenceClassifierBackend

__all__ = [
    "BackendError",
    "JudgeBackend",
    "OpenAIBackend",
    "TransformersBackend",
    "PairScore",
    "RequestFailed",
    "TransientBackendError",
    "backend_class",
    "backend_for",
    "declares_local",
    "generation_parameters",
    "is_scoring",
    "registry",
]

BUILT_IN: tuple[type[JudgeBackend], ...] = (
    TransformersBackend,
    OpenAIBackend,
    SequenceClassifierBackend,
    EmbeddingRewardBackend,
)


@functools.lru_cache(maxsize=8)
def _registry(extra_paths: tuple[str, ...]) -> dict[str, type[JudgeBackend]]:
    backends = {cls.key: cls for cls in BUILT_IN}
    for path in extra_paths:
        try:
            cls = import_string(path)
        except ImportError as exc:
            raise BackendError(f"TANDEM_JUDGE_BACKENDS: cannot import {path!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, JudgeBackend) and getattr(cls, "key", None)):
            raise BackendError(f"TANDEM_JUDGE_BACKENDS: {path!r} is not a JudgeBackend with a key")
        backends[cls.key] = cls
    return backends


def registry() -> dict[str, type[JudgeBackend]]:
    """Every backend by key: the built-in ones, then the deployment's (which may replace one)."""
    return _registry(tuple(getattr(settings, "JUDGE_BACKENDS", ())))


def declares_local(cls: type[JudgeBackend]) -> bool:
    """Whether the class itself says it calls no server: `calls_server = False` in its own body. A
    subclass of a local backend that does not say so again may reach a server, so it does not count."""
    return cls.__dict__.get("calls_server", True) is False


def choices(local_only: bool = False) -> list[tuple[str, str]]:
    """(key, label) of every registered backend (`local_only`: those declared local), for forms."""
    return [(key, cls.label or key) for key, cls in registry().items() if not local_only or declares_local(cls)]


def backend_class(key: str) -> type[JudgeBackend]:
    backends = registry()
    try:
        return backends[key]
    except KeyError:
        raise BackendError(f"unknown judge backend {key!r}; one of {', '.join(sorted(backends))}") from None


def backend_for(judge) -> JudgeBackend:
    """The judge's backend, ready to serve (models loaded, the client configured)."""
    return backend_class(judge.backend)(judge)


def is_scoring(judge) -> bool:
    """Whether the judge scores responses (a reward model) rather than writing a verdict."""
    return backend_class(judge.backend).scoring


def queue_for(judge) -> str:
    """The Celery queue the judge's runs go to: "gpu" for models loaded in the worker, else "cpu"."""
    return backend_class(judge.backend).queue
