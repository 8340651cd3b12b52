"""An OpenAI-compatible chat-completions server as a judge (vLLM, llama.cpp server, hosted APIs),
through the `openai` client: its retries (408/409/429/5xx, timeouts, connection errors, with
backoff and the server's Retry-After), its timeouts and its typed errors. Every connection goes
through `endpoints.guarded_client`, so the address checks (annotate/judging/endpoints.py) hold
at connection time, retries included.

Nothing from the worker's environment reaches the server: no OPENAI_API_KEY (a judge sends only
the declared key it names, or no Authorization header), no organization or project headers.

Outcomes, per request: a reply; `RequestFailed` when the server rejects that input alone (400,
422, a 200 that is not a chat completion); `BackendError` when no request can succeed (401, 403,
404, a refused address); `TransientBackendError` when the server still fails after the client's
retries (rate limits, 5xx, timeouts), which the Celery task declares retryable.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
from django.conf import settings
from openai import OpenAI

from annotate.judging.base import (
    BackendError,
    JudgeBackend,
    RequestFailed,
    TransientBackendError,
    generation_parameters,
)
from annotate.judging.endpoints import EndpointRefused, api_key, check_base_url, guarded_client
from workers.ml.loading import storable

logger = logging.getLogger(__name__)

FATAL_STATUS = {401, 403, 404}  # no request of this judge can succeed
TRANSIENT_STATUS = {408, 409, 425, 429}  # and every 5xx: the client retried them; the task may again later
DETAIL_CHARS = 300


class OpenAIBackend(JudgeBackend):
    key = "openai"
    label = "OpenAI-compatible chat-completions server"

    def __init__(self, judge):
        super().__init__(judge)
        self.params = generation_parameters(judge)
        p = judge.parameters or {}
        self.concurrency = max(1, int(p.get("concurrency", 4)))
        if not judge.base_url:
            raise BackendError(f"judge {judge.name!r} has no base_url")
        try:
            check_base_url(judge.base_url)
            key = api_key(judge.api_key_name) if judge.api_key_name else ""
        except EndpointRefused as exc:
            raise BackendError(f"judge {judge.name!r}: {exc}") from None
        timeout = float(p.get("timeout", settings.JUDGE_HTTP_TIMEOUT))
        # Omitted headers are never sent, whatever the environment says.
        headers: dict[str, Any] = {"OpenAI-Organization": openai.omit, "OpenAI-Project": openai.omit}
        # Without a key no Authorization header at all (the client insists on each request saying so).
        self.extra_headers = {} if key else {"Authorization": openai.omit}
        self.client = OpenAI(
            api_key=key,
            admin_api_key="",  # not None: the client would read OPENAI_ADMIN_KEY
            base_url=judge.base_url.rstrip("/"),
            timeout=timeout,
            max_retries=max(0, int(p.get("max_retries", 4))),
            default_headers=headers,
            http_client=guarded_client(timeout),
        )

    def _arguments(self, messages) -> dict:
        arguments = {
            "model": self.judge.model,
            "messages": messages,
            "temperature": self.params["temperature"],
            "max_tokens": self.params["max_new_tokens"],
            "extra_headers": self.extra_headers,
        }
        if self.params["top_p"] != 1.0:
            arguments["top_p"] = self.params["top_p"]
        return arguments

    def complete(self, messages):
        try:
            raw = self.client.chat.completions.with_raw_response.create(**self._arguments(messages))
        except EndpointRefused as exc:  # the host now resolves somewhere it may not go (never retried)
            raise BackendError(f"judge {self.judge.name!r}: {exc}") from None
        except openai.APIStatusError as exc:
            return self._status_failure(exc)
        except openai.APIConnectionError as exc:  # timeouts included, after the client's retries
            logger.warning("judge %s: %s unreachable: %r", self.judge.name, self.judge.base_url, exc.__cause__)
            raise TransientBackendError(
                f"{self.judge.base_url} still unreachable after retries: {type(exc).__name__}"
            ) from exc
        try:
            content = raw.parse().choices[0].message.content
        except (ValueError, AttributeError, IndexError, TypeError, openai.APIResponseValidationError):
            return RequestFailed(
                "the server's answer is not a chat completion", detail=raw.http_response.text[:DETAIL_CHARS]
            )
        return storable(content) if isinstance(content, str) else RequestFailed("completion content is not text")

    def _status_failure(self, exc: openai.APIStatusError) -> RequestFailed:
        status, detail = exc.status_code, exc.response.text[:DETAIL_CHARS]
        if status in FATAL_STATUS:
            logger.warning("judge %s: HTTP %s: %s", self.judge.name, status, detail)
            raise BackendError(f"{self.judge.base_url} answered HTTP {status}", detail=detail) from None
        if status in TRANSIENT_STATUS or status >= 500:
            logger.warning(
                "judge %s: %s still failing: HTTP %s %s", self.judge.name, self.judge.base_url, status, detail
            )
            raise TransientBackendError(
                f"{self.judge.base_url} still failing after {self.client.max_retries} retries: HTTP {status}", detail
            ) from None
        return RequestFailed(f"the server answered HTTP {status}", detail=detail)

    def close(self):
        self.client.close()

    def generate(self, conversations):
        if self.concurrency == 1 or len(conversations) == 1:
            return [self.complete(c) for c in conversations]
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(self.complete, conversations))
