"""What every judge backend shares: its errors, its per-request failure, a reward model's pair of
scores, and the base class the registry (`annotate.judging.backends`) keys backends by.

A generating backend maps a list of conversations to a list of replies (str, or `RequestFailed`
for a request the server rejected for that input alone); a scoring backend maps items to
`PairScore`s. Errors that would fail every request (server down after retries, missing key, bad
model path) raise `BackendError`, so the run fails and a re-run resumes where it stopped instead
of storing junk labels; `TransientBackendError` marks the ones worth retrying the task for.

What a server answers besides a completion may hold anything the server knows, so it never goes
into an error message: messages say what failed and the status code, and the body travels
separately (`detail`) for admins only (the item page shows it to admins; the worker logs it).
"""

from dataclasses import dataclass
from typing import ClassVar

from annotate.errors import Retryable


class BackendError(Exception):
    """The backend cannot serve any request (configuration, or a server still failing after retries).
    `detail` is the server's own words (a raw body), for admins only."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class TransientBackendError(BackendError, Retryable):
    """Worth retrying the whole task later (rate limits, 5xx or timeouts outlasting the client's retries)."""


@dataclass
class RequestFailed:
    """One request rejected for its own input (e.g. 400 context too long); stored as unparsed.
    `error` is shown to managers; `detail` (the server's body) to admins only."""

    error: str
    detail: str = ""


@dataclass
class PairScore:
    score_a: float
    score_b: float

    @property
    def margin(self) -> float:
        return self.score_b - self.score_a


class JudgeBackend:
    """A judge backend, registered under `key` (the value of `LMJudge.backend`).

    `scoring`: it scores both responses of a pair (`score_pairs(items)`) instead of writing verdicts
    (`generate(conversations)`). `queue`: the Celery queue its runs go to ("gpu" when it loads a
    model in the worker, "cpu" when it only waits on the network or runs a small head).
    `calls_server`: it sends items to a server; only admins may add such a judge (they set its URL
    and key). True unless a backend declares that it runs inside Tandem's own workers.
    `loads_model`: it loads the model `judge.model` names, so a manager may name only a registered one."""

    key: ClassVar[str]
    label: ClassVar[str] = ""
    scoring: ClassVar[bool] = False
    queue: ClassVar[str] = "cpu"
    calls_server: ClassVar[bool] = True
    loads_model: ClassVar[bool] = True  # reads `judge.model` as a model to load (or a server's model name)

    def __init__(self, judge):
        self.judge = judge

    def close(self) -> None:
        """Release what the backend holds open (connections); nothing by default."""


def generation_parameters(judge) -> dict:
    p = judge.parameters or {}
    return {
        "temperature": float(p.get("temperature", 0.0)),
        "max_new_tokens": int(p.get("max_new_tokens", p.get("max_tokens", 384))),
        "batch_size": max(1, int(p.get("batch_size", 8))),
        "top_p": float(p.get("top_p", 1.0)),
    }
