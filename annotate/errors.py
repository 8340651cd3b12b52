"""The errors services raise for the person who asked, and the marker for errors worth retrying.

A service refuses a request by raising a `ServiceError` whose message is written for a person and
whose `status` says what kind of refusal it is: 400 (the request is invalid) or 409 (it conflicts
with the current state: a lease lost, a submission id reused, a preview gone stale). The web layer
turns it into a response in one place each: `annotate.api_errors.exception_handler` for the REST
API, `annotate.middleware.ServiceErrorMiddleware` for pages. Views do not catch it just to say the
same thing again; they catch it only to re-render a form with the message beside the fields.

`Retryable` marks an error that says nothing about the request, only that a dependency (an LM
endpoint over its rate limit, a server's 5xx) should be asked again later: Celery's
`autoretry_for` and the run decorator (workers.tasks.runs) retry it with backoff.
"""

from collections.abc import Mapping
from typing import ClassVar


class ServiceError(Exception):
    """A request refused by a service: `message` for the person, `errors` by form field."""

    status: ClassVar[int] = 400

    def __init__(self, message: str = "", errors: Mapping[str, str] | None = None):
        super().__init__(message)
        self.message = message or self.__doc__ or "refused"
        self.errors: dict[str, str] = dict(errors or {})

    def __str__(self) -> str:
        return self.message


class Invalid(ServiceError):
    """The request itself is wrong: asking again unchanged gives the same answer."""

    status = 400


class Conflict(ServiceError):
    """The request clashes with the current state (someone or something changed it first)."""

    status = 409


class Retryable(Exception):
    """A transient failure of a dependency: retry the whole task later, with backoff."""
