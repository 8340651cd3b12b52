"""Where judge replies come from: a local transformers model (batched, GPU when present) or any
OpenAI-compatible chat-completions server (vLLM, llama.cpp server, hosted APIs); or, for reward-model
judges, scores instead of replies: a sequence-classification reward model, or a Bradley–Terry head
on MiniLM embeddings (`workers.ml.reward_heads`). A scoring backend has `score_pairs(items)` instead of
`generate(conversations)`.

A backend maps a list of conversations to a list of replies (str, or `RequestFailed` for a request
the server rejected for that input alone). Errors that would fail every request — server down
after retries, missing key, bad model path — raise `BackendError`, so the run fails and a re-run
resumes where it stopped instead of storing junk labels.

What a server answers besides a completion (an error body, a page that is not a completion) may
hold anything the server knows, so it never goes into an error message: messages say what failed
and the status code, and the body travels separately (`detail`) for admins only (the item page
shows it to admins; the worker logs it).
"""

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx2
from django.conf import settings

from annotate.errors import Retryable
from annotate.judging.endpoints import EndpointRefused, api_key, check_base_url, guarded_client
from workers.ml import embeddings
from workers.ml.loading import chat_prompt, device, load_for_generation, storable
from workers.ml.reward_heads import EMBED_MAX_TOKENS, BradleyTerryHead, SequenceClassifierScorer, response_text
from workers.models import FineTuneRun, ModelSpec

logger = logging.getLogger(__name__)


class BackendError(Exception):
    """The backend cannot serve any request (configuration, or a server still failing after retries).
    `detail` is the server's own words (a raw body), for admins only."""

    def __init__(self, message, detail=""):
        super().__init__(message)
        self.detail = detail


class TransientBackendError(BackendError, Retryable):
    """Worth retrying the whole task later (rate limits or 5xx outlasting the in-call retries)."""


@dataclass
class RequestFailed:
    """One request rejected for its own input (e.g. 400 context too long); stored as unparsed.
    `error` is shown to managers; `detail` (the server's body) to admins only."""

    error: str
    detail: str = ""


def generation_parameters(judge):
    p = judge.parameters or {}
    return {
        "temperature": float(p.get("temperature", 0.0)),
        "max_new_tokens": int(p.get("max_new_tokens", p.get("max_tokens", 384))),
        "batch_size": max(1, int(p.get("batch_size", 8))),
        "top_p": float(p.get("top_p", 1.0)),
    }


# --- local transformers model -------------------------------------------------------------------


def _resolve_local(judge):
    """A ModelSpec-shaped record for the judge: its model may name a registered ModelSpec."""
    from types import SimpleNamespace

    spec = ModelSpec.objects.filter(name=judge.model).first()
    if spec and spec.project_id is not None and set(judge.projects.values_list("pk", flat=True)) != {spec.project_id}:
        raise ValueError(f"model {spec.name} belongs to one project; a judge of other projects cannot use it")
    if spec:
        return spec
    p = judge.parameters or {}
    return SimpleNamespace(
        path_or_id=judge.model,
        dtype=p.get("dtype", "auto"),
        max_length=int(p.get("max_length", 4096)),
        chat_template=p.get("chat_template", ""),
    )


def device_name():

    return device()


def load_local(spec):
    """Model and tokenizer through the workers' loader: cached per process, so a GPU worker holds
    one copy of a model whether it judges or writes rationales with it."""

    try:
        model, tokenizer = load_for_generation(spec)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {spec.path_or_id!r}: {exc}") from exc
    tokenizer.padding_side = "left"  # decoder-only batches must end where generation starts
    return model, tokenizer


class TransformersBackend:
    def __init__(self, judge):
        self.judge = judge
        self.params = generation_parameters(judge)
        self.spec = _resolve_local(judge)
        self.model, self.tokenizer = load_local(self.spec)

    def _max_input_tokens(self):
        limit = min(getattr(self.model.config, "max_position_embeddings", None) or 4096, self.spec.max_length)
        return max(
            16, int((self.judge.parameters or {}).get("max_input_tokens", limit - self.params["max_new_tokens"]))
        )

    def generate(self, conversations):
        import torch

        tok, out = self.tokenizer, []

        texts = [chat_prompt(tok, c) for c in conversations]
        for start in range(0, len(texts), self.params["batch_size"]):
            chunk = texts[start : start + self.params["batch_size"]]
            # Over-long inputs lose their beginning (the system prompt), never the verdict request.
            tok.truncation_side = "left"
            enc = tok(
                chunk,
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self._max_input_tokens(),
                add_special_tokens=False,
            ).to(self.model.device)
            kwargs = {"max_new_tokens": self.params["max_new_tokens"], "pad_token_id": tok.pad_token_id}
            if self.params["temperature"] > 0:
                kwargs.update(do_sample=True, temperature=self.params["temperature"], top_p=self.params["top_p"])
            else:
                kwargs.update(do_sample=False)
            with torch.inference_mode():
                generated = self.model.generate(**enc, **kwargs)
            new_tokens = generated[:, enc["input_ids"].shape[1] :]
            out.extend(storable(t) for t in tok.batch_decode(new_tokens, skip_special_tokens=True))
        return out


# --- OpenAI-compatible server -------------------------------------------------------------------

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUS = {401, 403, 404}


class OpenAIBackend:
    def __init__(self, judge, client=None):
        self.judge = judge
        self.params = generation_parameters(judge)
        p = judge.parameters or {}
        self.max_retries = int(p.get("max_retries", 4))
        self.backoff = float(p.get("retry_backoff", 1.0))
        self.concurrency = max(1, int(p.get("concurrency", 4)))
        if not judge.base_url:
            raise BackendError(f"judge {judge.name!r} has no base_url")
        headers = {"Content-Type": "application/json"}
        try:
            check_base_url(judge.base_url)
            if judge.api_key_name:
                headers["Authorization"] = f"Bearer {api_key(judge.api_key_name)}"
        except EndpointRefused as exc:
            raise BackendError(f"judge {judge.name!r}: {exc}") from None
        timeout = float(p.get("timeout", settings.JUDGE_HTTP_TIMEOUT))
        self.client = client or guarded_client(judge.base_url.rstrip("/") + "/", headers, timeout)

    def _payload(self, messages):
        body = {
            "model": self.judge.model,
            "messages": messages,
            "temperature": self.params["temperature"],
            "max_tokens": self.params["max_new_tokens"],
        }
        if self.params["top_p"] != 1.0:
            body["top_p"] = self.params["top_p"]
        return body

    def _sleep_for(self, attempt, response=None):
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        return self.backoff * (2**attempt) * (0.5 + random.random() / 2)

    def complete(self, messages):
        last = ""
        for attempt in range(self.max_retries + 1):
            response = None
            try:
                response = self.client.post("chat/completions", json=self._payload(messages))
            except EndpointRefused as exc:  # the host now resolves somewhere it may not go
                raise BackendError(f"judge {self.judge.name!r}: {exc}") from None
            except httpx2.TransportError as exc:  # connect/read timeouts, refused connections
                last, detail = f"{type(exc).__name__}: {exc}", ""
            else:
                if response.status_code == 200:
                    try:
                        content = storable(response.json()["choices"][0]["message"]["content"])
                    except (ValueError, KeyError, IndexError, TypeError):
                        return self._failed("the server's answer is not a chat completion", response)
                    return content if isinstance(content, str) else RequestFailed("completion content is not text")
                if response.status_code in FATAL_STATUS:
                    logger.warning("judge %s: HTTP %s: %s", self.judge.name, response.status_code, response.text[:300])
                    raise BackendError(
                        f"{self.judge.base_url} answered HTTP {response.status_code}", detail=response.text[:300]
                    )
                if response.status_code not in RETRY_STATUS:
                    return self._failed(f"the server answered HTTP {response.status_code}", response)
                last, detail = f"HTTP {response.status_code}", response.text[:300]
            if attempt < self.max_retries:
                time.sleep(self._sleep_for(attempt, response))
        logger.warning("judge %s: %s still failing: %s %s", self.judge.name, self.judge.base_url, last, detail)
        raise TransientBackendError(
            f"{self.judge.base_url} still failing after {self.max_retries} retries: {last}", detail
        )

    def _failed(self, message, response):
        return RequestFailed(message, detail=response.text[:300])

    def close(self):
        self.client.close()

    def generate(self, conversations):
        if self.concurrency == 1 or len(conversations) == 1:
            return [self.complete(c) for c in conversations]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self.complete, conversations))


# --- reward-model judges: score both responses, verdict from the margin -----------------------


@dataclass
class PairScore:
    score_a: float
    score_b: float

    @property
    def margin(self):
        return self.score_b - self.score_a


def _resolve_reward_model(judge):
    """Path of the judge's reward model: a registered ModelSpec name, `finetune:<run id>` (a reward
    model fine-tuned in Tandem), or a local path / hub id."""
    from pathlib import Path

    name = judge.model
    if name.startswith("finetune:"):
        ft = FineTuneRun.objects.filter(run_id=name.split(":", 1)[1].strip() or None).first()
        if ft is None or not ft.output_dir:
            raise BackendError(f"no finished fine-tune run {name!r}")
        return str(Path(ft.output_dir) / "model")
    spec = ModelSpec.objects.filter(name=name).first()
    return spec.path_or_id if spec else name


def _conversation(item):
    return item.prompt.messages or [{"role": "user", "content": item.prompt.text}]


class SequenceClassifierBackend:
    """`AutoModelForSequenceClassification.from_pretrained(...)`: one reward per response."""

    def __init__(self, judge):

        p = judge.parameters or {}
        path = _resolve_reward_model(judge)
        try:
            self.scorer = SequenceClassifierScorer(
                path,
                max_length=int(p.get("max_length", 1024)),
                batch_size=int(p.get("batch_size", 8)),
                dtype=p.get("dtype", "auto"),
            )
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load reward model {path!r}: {exc}") from exc

    def score_pairs(self, items):
        texts = [self.scorer.text(_conversation(i), r.text) for i in items for r in (i.response_a, i.response_b)]
        scores = self.scorer.score(texts)
        return [PairScore(scores[2 * k], scores[2 * k + 1]) for k in range(len(items))]


class EmbeddingRewardBackend:
    """A Bradley–Terry head on MiniLM embeddings of response + prompt, trained by
    `annotate.judging.reward_training.train_embedding_judge` (weights in `parameters.bt_head`)."""

    def __init__(self, judge):

        try:
            self.head = BradleyTerryHead.from_json((judge.parameters or {}).get("bt_head"))
        except ValueError as exc:
            raise BackendError(
                f"judge {judge.name!r} is an embedding reward model that has not been trained yet; "
                "train it on a labelled slice first"
            ) from exc

    def score_pairs(self, items):

        texts = [response_text(i.prompt.text, r.text) for i in items for r in (i.response_a, i.response_b)]
        vectors = embeddings.embed(texts, max_tokens=EMBED_MAX_TOKENS).astype(float)
        scores = vectors @ self.head.weights
        return [PairScore(float(scores[2 * k]), float(scores[2 * k + 1])) for k in range(len(items))]


BACKENDS = {
    "transformers": TransformersBackend,
    "openai": OpenAIBackend,
    "reward_model": SequenceClassifierBackend,
    "embedding_rm": EmbeddingRewardBackend,
}


def backend_for(judge):
    try:
        backend = BACKENDS[judge.backend]
    except KeyError:
        raise BackendError(f"unknown judge backend {judge.backend!r}") from None
    return backend(judge)


def is_scoring(judge):
    """Whether the judge scores responses (a reward model) rather than writing a verdict."""
    return judge.backend in ("reward_model", "embedding_rm")
