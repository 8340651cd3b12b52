"""Reward models that score a (prompt, response) without generating text.

- `BradleyTerryHead`: a linear reward r(x) = w·e(x) on the offline MiniLM embedding e of
  response + prompt (`response_text`), fitted by logistic regression on embedding differences (the Bradley–Terry
  likelihood P(B ≻ A) = σ(r(B) − r(A))). It trains in well under a second on CPU from a few hundred
  labels, so it serves both as a real judge (labels nobody constructed) and as the proxy reward model
  that routing trains on every candidate label mix.
- `SequenceClassifierScorer`: any `AutoModelForSequenceClassification` reward model (a hub id, a
  local path, or a reward model fine-tuned in Tandem), one scalar per text.

Labels are directions from A's side as Tandem stores them: −1 (A better), +1 (B better), 0 none.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.ml.loading import device, torch_dtype

EMBED_MAX_TOKENS = 128
PROMPT_TAIL_CHARS = 1500


def response_text(prompt: str, response: str) -> str:
    """What the embedding reward model reads for one response: the response first, then the end of
    the conversation it answers. MiniLM truncates from the right (at EMBED_MAX_TOKENS), so a long
    multi-turn prompt placed first would push the response, the part that differs, out entirely;
    mean pooling makes the order otherwise immaterial."""
    return f"{response}\n\n{prompt[-PROMPT_TAIL_CHARS:]}"


def pair_deltas(
    embed: Callable[..., np.ndarray],
    prompts: Sequence[str],
    responses_a: Sequence[str],
    responses_b: Sequence[str],
    max_tokens: int = EMBED_MAX_TOKENS,
) -> np.ndarray:
    """e(prompt + B) − e(prompt + A) per pair; `embed(texts, max_tokens=...)` is workers.ml.embeddings.embed."""
    texts = [response_text(p, r) for p, r in zip(prompts, responses_a)] + [
        response_text(p, r) for p, r in zip(prompts, responses_b)
    ]
    vectors = embed(texts, max_tokens=max_tokens) if texts else np.zeros((0, 1), np.float32)
    n = len(prompts)
    return (vectors[n:] - vectors[:n]).astype(np.float64)


PROXY_DIMENSIONS = 32


def principal_directions(delta: np.ndarray, k: int = PROXY_DIMENSIONS) -> np.ndarray:
    """Project e(B) − e(A) onto its top-k principal directions (no labels involved).

    Routing trains thousands of proxy reward models on a few hundred pairs each; in 32 dimensions
    a fit takes a millisecond (Newton) instead of ~100 ms (lbfgs in 384), and with a few hundred
    noisy labels it loses little: the measured curves say how good the proxy is."""
    delta = np.asarray(delta, float)
    if delta.ndim != 2 or delta.shape[1] <= k or len(delta) < 2:
        return delta
    _, _, vt = np.linalg.svd(delta - delta.mean(0), full_matrices=False)
    return delta @ vt[:k].T


@dataclass
class BradleyTerryHead:
    """r(x) = w·e(x). Fitted on both orders of every pair (so no intercept and no position bias)."""

    weights: np.ndarray
    trained_on: int = 0
    C: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def margin(self, delta: np.ndarray) -> np.ndarray:
        """r(B) − r(A) for rows of e(B) − e(A)."""
        return np.asarray(delta, float) @ self.weights

    def predict(self, delta: np.ndarray) -> np.ndarray:
        """Direction per pair: +1 (B better) or −1 (A better); 0 only for an exactly zero margin."""
        return np.sign(self.margin(delta)).astype(int)

    def accuracy(self, delta: np.ndarray, reference: np.ndarray) -> float | None:
        """Share of pairs whose predicted direction matches the reference (ties in the reference skipped)."""
        reference = np.asarray(reference)
        keep = reference != 0
        if not keep.any():
            return None
        return float(np.mean(self.predict(np.asarray(delta)[keep]) == reference[keep]))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "bradley_terry",
            "weights": [round(float(w), 6) for w in self.weights],
            "trained_on": self.trained_on,
            "C": self.C,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: object) -> "BradleyTerryHead":
        if not isinstance(data, dict) or data.get("kind") != "bradley_terry" or not data.get("weights"):
            raise ValueError("not a trained Bradley–Terry head")
        return cls(
            np.asarray(data["weights"], float),
            int(data.get("trained_on", 0)),
            float(data.get("C", 1.0)),
            dict(data.get("meta") or {}),
        )


def fit_bradley_terry(delta: np.ndarray, labels: np.ndarray, C: float = 1.0) -> BradleyTerryHead:
    """Fit the head on pairs with a direction (labels ±1; 0 = no label, skipped).

    L2-regularised logistic regression without intercept on both orders of every pair (minimise
    ½‖w‖² + C Σ log-loss). Both orders make the problem symmetric, so a one-sided label set is
    still well posed; with no labelled pair the head is zero (every margin 0, no preference)."""
    delta, labels = np.asarray(delta, float), np.asarray(labels)
    keep = labels != 0
    d, y = delta[keep], labels[keep] > 0
    dim = delta.shape[1] if delta.ndim == 2 else 0
    if not len(d):
        return BradleyTerryHead(np.zeros(dim), 0, C)
    if dim <= NEWTON_MAX_DIM:
        return BradleyTerryHead(_newton(d * np.where(y, 1.0, -1.0)[:, None], C), int(keep.sum()), C)
    from sklearn.linear_model import LogisticRegression  # lazily: pages that only render never load sklearn

    X = np.vstack([d, -d])
    Y = np.concatenate([y, ~y])
    model = LogisticRegression(fit_intercept=False, C=C, max_iter=500, tol=1e-4).fit(X, Y)
    return BradleyTerryHead(model.coef_[0].astype(float), int(keep.sum()), C)


NEWTON_MAX_DIM = 64  # below this Newton's method is ~50× faster than lbfgs; above, lbfgs wins on CPU


def _newton(z, C, iterations=30, tol=1e-7):
    """The same objective by Newton's method, for low-dimensional inputs (synthetic sets, tests).
    Rows are oriented so the preferred response is B; the mirrored row doubles gradient and curvature."""
    w = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        step = np.linalg.solve(np.eye(len(w)) + 2 * C * (z.T * (p * (1 - p))) @ z, w - 2 * C * (z.T @ (1 - p)))
        w -= step
        if np.max(np.abs(step)) < tol:
            break
    return w


@dataclass(frozen=True)
class MarginVerdict:
    """A reward model's verdict on a pair: preference −3..3 from A's side (negative: A better),
    confidence 0..1, and P(B ≻ A)."""

    preference: int
    confidence: float
    p_b_better: float


def verdict_from_margin(margin: float) -> MarginVerdict:
    """The verdict from the margin r(B) − r(A).

    P(B ≻ A) = σ(margin) under Bradley–Terry; confidence = |2P − 1|; strength 1/2/3 below
    P 0.65 / 0.8 / above (a reward model has no tie, so a zero margin is the only 0)."""
    p = 1.0 / (1.0 + np.exp(-float(margin)))
    confidence = abs(2 * p - 1)
    sure = max(p, 1 - p)
    strength = 1 if sure < 0.65 else (2 if sure < 0.8 else 3)
    direction = int(np.sign(margin))
    return MarginVerdict(direction * strength, round(confidence, 4), round(p, 4))


class SequenceClassifierScorer:
    """Scores texts with `AutoModelForSequenceClassification.from_pretrained(path_or_id)`.

    One logit: that is the reward. Two logits: the second minus the first (a good-vs-bad classifier)."""

    def __init__(
        self, path_or_id: str, max_length: int = 1024, batch_size: int = 8, on: str | None = None, dtype: str = "auto"
    ):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.on = on or device()
        self.tokenizer = AutoTokenizer.from_pretrained(path_or_id)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.truncation_side = "left"  # keep the response, which is at the end
        self.model: Any = (
            AutoModelForSequenceClassification.from_pretrained(path_or_id, dtype=torch_dtype(dtype, self.on))
            .to(self.on)
            .eval()
        )
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.max_length, self.batch_size = int(max_length), max(1, int(batch_size))

    def text(self, messages: Sequence[dict[str, str]], response: str) -> str:
        """The conversation with the response as the last assistant turn (the chat template when there is one)."""
        conversation = list(messages) + [{"role": "assistant", "content": response}]
        if self.tokenizer.chat_template:
            return str(self.tokenizer.apply_chat_template(conversation, tokenize=False))
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in conversation) + (self.tokenizer.eos_token or "")

    def score(self, texts: Sequence[str]) -> list[float]:
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            ).to(self.on)
            with torch.inference_mode():
                logits = self.model(**enc).logits.float()
            out.extend((logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]).tolist())
        return out
