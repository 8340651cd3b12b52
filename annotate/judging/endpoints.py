"""Where an OpenAI-compatible judge may send requests, and with which key.

A judge's `base_url` and key name are set by admins only, but the rules below hold whoever set
them, so a bad row (an old one, or one edited in the database) still cannot reach the server's
secrets or its network:

- Keys: the deployment declares them, `TANDEM_JUDGE_KEYS="openai=OPENAI_API_KEY,..."`
  (`settings.JUDGE_KEYS`, name → environment variable). A judge names a *declared name*; any other
  environment variable (SECRET_KEY, DATABASE_URL, ...) is out of reach.
- Addresses: http(s) only, and a host must resolve to public addresses only: loopback, private,
  link-local (169.254.169.254, the cloud metadata service), unique-local, CGNAT, multicast,
  reserved and unspecified addresses are refused, as are IPv6 forms that embed such an IPv4
  address. The deployment may allow-list hosts (`TANDEM_JUDGE_ALLOWED_HOSTS`, `host` or
  `host:port`) for a local vLLM server.
- The check runs when a judge is saved and again at every connection: `GuardedNetwork` resolves
  the host, checks every address and connects to a checked address, so a name that changes its
  answer after validation (DNS rebinding) still cannot lead to an internal address. Proxies from
  the environment are not used, since a proxy would make the connection on our behalf unchecked.
"""

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore2
import httpx2
from django.conf import settings

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EndpointRefused(ValueError):
    """A base URL, address or key name the deployment does not allow; the message says which and why."""


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    host: str  # lower case, IPv6 without brackets
    port: int


# --- keys -----------------------------------------------------------------------------------------


def declared_key_names() -> list[str]:
    return sorted(settings.JUDGE_KEYS)


def check_key_name(name: str) -> None:
    if name and name not in settings.JUDGE_KEYS:
        declared = ", ".join(declared_key_names()) or "none are declared"
        raise EndpointRefused(f"key {name!r} is not declared in TANDEM_JUDGE_KEYS ({declared})")


def api_key(name: str) -> str:
    """The value of the declared key `name`."""
    check_key_name(name)
    variable = settings.JUDGE_KEYS[name]
    value = os.environ.get(variable)
    if not value:
        raise EndpointRefused(f"judge key {name!r} is declared, but its environment variable {variable} is not set")
    return value


# --- addresses ------------------------------------------------------------------------------------


def parse_base_url(url: str) -> Endpoint:
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError as exc:
        raise EndpointRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise EndpointRefused("use an http:// or https:// URL")
    if not parts.hostname:
        raise EndpointRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("put no credentials in the URL; name a declared key instead")
    return Endpoint(scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80))


def _allowed_entries():
    for entry in settings.JUDGE_ALLOWED_HOSTS:
        entry = entry.strip().lower()
        if entry.startswith("["):  # [v6] or [v6]:port
            host, _, rest = entry[1:].partition("]")
            yield host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        elif entry.count(":") == 1:
            host, port = entry.split(":")
            yield host, int(port) if port.isdigit() else -1  # a malformed port matches nothing
        else:
            yield entry, None


def is_allow_listed(host: str, port: int) -> bool:
    host = host.strip("[]").lower()
    return any(h == host and p in (None, port) for h, p in _allowed_entries())


def address_problem(address: str) -> str | None:
    """Why `address` (an IP) may not be reached, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%")[0])  # drop an IPv6 zone id
    embedded: ipaddress.IPv4Address | None = None
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for candidate in (ip, embedded):
        if candidate is None:
            continue
        for kind in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
            if getattr(candidate, f"is_{kind}"):
                return f"{address} is a {kind.replace('_', '-')} address"
        if not candidate.is_global:
            return f"{address} is not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointRefused(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))  # the host of each sockaddr


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, all public; refused if any is not (unless allow-listed,
    in which case the host is returned as is, to be resolved by the socket layer)."""
    host = host.strip("[]")
    if is_allow_listed(host, port):
        return [host]
    addresses = resolve(host, port)
    problems = [p for p in map(address_problem, addresses) if p]
    if problems or not addresses:
        raise EndpointRefused(
            f"judge host {host} is not allowed: {problems[0] if problems else 'no address'}. "
            "A server on a private network must be listed in TANDEM_JUDGE_ALLOWED_HOSTS"
        )
    return addresses


def check_base_url(url: str) -> Endpoint:
    """Validate a judge's base URL now (scheme, host, resolved addresses); returns its parts."""
    endpoint = parse_base_url(url)
    checked_addresses(endpoint.host, endpoint.port)
    return endpoint


# --- the connection -------------------------------------------------------------------------------


class GuardedNetwork(httpcore2.SyncBackend):
    """Opens TCP connections only to addresses `checked_addresses` accepted, resolved once per
    connection, so the address checked is the address connected to. TLS still verifies the
    certificate against the URL's host name (httpcore passes it separately)."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last: Exception = httpcore2.ConnectError(f"no address to connect to for {host}")
        for address in checked_addresses(host, port):
            try:
                return super().connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore2.ConnectError as exc:
                last = exc
        raise last


def guarded_client(timeout: float) -> httpx2.Client:
    """An httpx client whose every connection goes through `GuardedNetwork`; no redirects, no
    proxies from the environment. The `openai` client of a judge sends its requests through it."""
    transport = httpx2.HTTPTransport(trust_env=False)
    # httpx offers no public way to pass a network backend; rebuild its pool with ours.
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=httpx2.create_ssl_context(trust_env=False), network_backend=GuardedNetwork()
    )
    return httpx2.Client(timeout=timeout, transport=transport, follow_redirects=False, trust_env=False)


# --- forms ----------------------------------------------------------------------------------------


def connection_errors(base_url: str, key_name: str) -> dict[str, str]:
    """Problems with a judge's connection settings, by field, for the forms that set them."""
    errors = {}
    if base_url:
        try:
            check_base_url(base_url)
        except EndpointRefused as exc:
            errors["base_url"] = str(exc)
    if key_name:
        try:
            check_key_name(key_name)
        except EndpointRefused as exc:
            errors["api_key_name"] = str(exc)
    return errors
