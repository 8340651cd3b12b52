"""Login throttling on the cache (Redis in production, so every web worker sees the same counts).

Failures are counted per username and per client address over a window of
LOGIN_LOCKOUT_SECONDS. At LOGIN_FAILURE_LIMIT failures for a username, or
LOGIN_FAILURE_IP_LIMIT from one address, that username or address is locked out for
LOGIN_LOCKOUT_SECONDS: even the right password is refused until then. A successful login clears
its username's count. The check sits in the authentication backend, so the login page, the admin's
login and any other `authenticate()` call are all throttled; the login form only words the refusal.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache

PREFIX = "tandem:login"


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    until: float  # epoch seconds

    @property
    def minutes_left(self) -> int:
        return max(1, math.ceil((self.until - time.time()) / 60))

    @property
    def message(self) -> str:
        who = "this account" if self.scope == "account" else "your network address"
        return (
            f"Too many failed logins for {who}. Logins are locked for {self.minutes_left} more "
            f"minute{'s' if self.minutes_left != 1 else ''}; try again then."
        )


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or the header a trusted proxy sets (TANDEM_CLIENT_IP_HEADER)."""
    if request is None:
        return None
    header = getattr(settings, "TANDEM_CLIENT_IP_HEADER", "")
    if header:
        value = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        # X-Forwarded-For style lists: the proxy appends the address it saw last.
        value = value.split(",")[-1].strip()
        if value:
            return value
    return request.META.get("REMOTE_ADDR") or None


def _key(kind: str, scope: str, value: str) -> str:
    return f"{PREFIX}:{kind}:{scope}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _scopes(username: str | None, address: str | None):
    if username:
        yield "account", username.strip().lower(), settings.LOGIN_FAILURE_LIMIT
    if address:
        yield "address", address, settings.LOGIN_FAILURE_IP_LIMIT


def locked_out(username: str | None, address: str | None) -> Lockout | None:
    """The lockout in force for this username or address, if any."""
    for scope, value, _ in _scopes(username, address):
        until = cache.get(_key("lock", scope, value))
        if until is not None and until > time.time():
            return Lockout(scope, until)
    return None


def record_failure(username: str | None, address: str | None) -> Lockout | None:
    """Count one failed login; returns the lockout it started, if it reached a limit."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    started = None
    for scope, value, limit in _scopes(username, address):
        key = _key("fail", scope, value)
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)
            count = 1
        if count >= limit:
            until = time.time() + window
            cache.set(_key("lock", scope, value), until, timeout=window)
            cache.delete(key)
            started = started or Lockout(scope, until)
    return started


def record_success(username: str | None) -> None:
    if username:
        cache.delete(_key("fail", "account", username.strip().lower()))


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form, saying so when the account or address is locked out."""

    def clean(self):
        lockout = locked_out(self.cleaned_data.get("username"), client_address(self.request))
        if lockout is not None:
            raise forms.ValidationError(lockout.message, code="locked") from None
        try:
            return super().clean()
        except forms.ValidationError:
            lockout = locked_out(self.cleaned_data.get("username"), client_address(self.request))
            if lockout is not None:  # this failure was the one that reached the limit
                raise forms.ValidationError(lockout.message, code="locked")  # noqa: B904
            raise


class ThrottledAdminLoginForm(ThrottledLoginForm, AdminAuthenticationForm):
    """The admin's login form (staff only), wording a lockout the same way."""
