# -*- test-case-name: tests.unit.test_control_admission -*-
"""
Whether the control API takes a request, decided from its head alone —
before a byte of its body is read.

A browser on the daemon's host is the main threat to a loopback API
without a token: a page from any origin can send it requests (CSRF), and a
page whose name an attacker re-points at 127.0.0.1 can read the answers
(DNS rebinding). So:

  - the Host header must be a loopback name, an address literal (a rebinding
    page always carries its own DNS name) or a name in C{allowed_hosts};
  - a state-changing request (anything but GET, HEAD, OPTIONS) with an
    Origin must come from the very origin it is sent to, and one a browser
    marks as cross-site (C{Sec-Fetch-Site}) is refused;
  - a body must be C{application/json}, which no HTML form and no
    cross-origin "simple" request can send without a CORS preflight (never
    granted here).

Then the token, then the declared body size.

The token comes as C{Authorization: Bearer TOKEN}. A browser cannot send
that, so for reading only (GET and HEAD: the status page, the lease search,
C{/metrics} and the API's GETs) HTTP Basic is taken too, with any user name
and the token as the password; a refused read asks for it
(C{WWW-Authenticate: Basic}), so the browser prompts. Every change (POST,
DELETE) still needs the bearer header: a browser attaches cached Basic
credentials to requests other sites' pages make (CSRF), never a bearer one.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import ipaddress
import math
from typing import Iterable

import attrs
from twisted.web.http_headers import Headers

from dhcpsuite.server.ratelimit import RateLimiter

SAFE_METHODS = frozenset((b"GET", b"HEAD", b"OPTIONS"))
# Where a browser's Basic credentials are taken: what only reads.
READ_METHODS = frozenset((b"GET", b"HEAD"))
BEARER_CHALLENGE = b'Bearer realm="dhcpsuite"'
BASIC_CHALLENGE = b'Basic realm="dhcpsuite", charset="UTF-8"'
LOOPBACK_NAMES = frozenset(("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"))


class Refusal(enum.Enum):
    HOST = "host"
    ORIGIN = "origin"
    TOKEN = "token"
    TOO_LARGE = "too-large"
    LENGTH_REQUIRED = "length-required"
    CONTENT_TYPE = "content-type"
    AUTH_FAILURES = "auth-failures"


@attrs.frozen
class Refused:
    reason: Refusal
    status: int
    message: str
    # WWW-Authenticate values, one header each (a 401's).
    challenges: tuple[bytes, ...] = ()
    # Seconds for a Retry-After header (a 429's).
    retry_after: int | None = None


@attrs.frozen
class AdmissionPolicy:
    token: str | None = None
    allowed_hosts: frozenset[str] = frozenset()
    max_body: int = 64 * 1024
    # False for a UNIX socket: no browser can reach one, and its clients
    # send whatever Host they like.
    browser_reachable: bool = True


def _host_name(host: str) -> str | None:
    """
    The name or address in a Host header value (no port, no brackets,
    lower case), or C{None} when it is not one.
    """
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return host[1:end]
    name, _, port = host.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".")


def host_allowed(host: str, allowed: Iterable[str] = ()) -> bool:
    name = _host_name(host)
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name in LOOPBACK_NAMES or name.endswith(".localhost") or name in allowed


def _origin_matches(origin: str, host: str | None) -> bool:
    """
    Is C{origin} (scheme://host[:port]) the origin of a request to C{host}?
    The API speaks plain HTTP only, so its own origin is always C{http:}.
    """
    scheme, sep, authority = origin.strip().lower().partition("://")
    if not sep or scheme != "http" or host is None:
        return False
    return authority.removesuffix(":80") == host.strip().lower().removesuffix(":80")


def _one(headers: Headers, name: bytes) -> str | None | bool:
    values = headers.getRawHeaders(name)
    if values is None:
        return None
    if len(values) != 1:
        return False
    return values[0].decode("latin-1")


def _basic_password(credentials: str) -> bytes | None:
    """
    The password of HTTP Basic C{credentials} (base64 of C{user:password},
    RFC 7617), or C{None} when they are not that.
    """
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    _, colon, password = decoded.partition(b":")
    return password if colon else None


def _authorization(headers: Headers) -> tuple[str, str]:
    scheme, _, credentials = (_one(headers, b"authorization") or "").strip().partition(" ")
    return scheme.lower(), credentials


def token_presented(headers: Headers, token: str, method: bytes) -> bool:
    """
    Does the request carry C{token}: as a bearer token, or for a read
    (L{READ_METHODS}) as the password of HTTP Basic (any user name)?
    Compared in constant time.
    """
    scheme, credentials = _authorization(headers)
    if scheme == "bearer":
        presented: bytes | None = credentials.strip().encode("latin-1")
    elif scheme == "basic" and method in READ_METHODS:
        presented = _basic_password(credentials)
    else:
        return False
    return presented is not None and hmac.compare_digest(presented, token.encode("utf-8"))


def credentials_presented(headers: Headers) -> bool:
    """
    Does the request try a token at all (any Authorization header)? A
    browser's first, anonymous request is no failed attempt.
    """
    return headers.hasHeader(b"authorization")


class FailedAttempts:
    """
    Failed token attempts by peer address, Bearer and Basic alike: each
    takes a token from the address's bucket (C{per_minute}, refilled at
    that rate). An address with an empty bucket is refused every request,
    a right token included, until one has refilled: otherwise guessing
    would go on at full speed and only its misses be slowed.
    """

    def __init__(self, per_minute: int, max_entries: int = 4096) -> None:
        self._buckets = RateLimiter(per_minute / 60.0, per_minute, max_entries)

    def refused(self, address: str, now: float) -> Refused | None:
        available = self._buckets.available(address, now)
        if available >= 1.0:
            return None
        wait = max(1, math.ceil((1.0 - available) / self._buckets.rate))
        return Refused(Refusal.AUTH_FAILURES, 429, f"too many failed token attempts from this address; try again in {wait} s",
                       retry_after=wait)

    def failed(self, address: str, now: float) -> None:
        self._buckets.allow(address, now)


def _token_refused(method: bytes, headers: Headers) -> Refused:
    if method in READ_METHODS:
        # Basic first: the browser prompts for it (it knows no Bearer).
        return Refused(Refusal.TOKEN, 401, "a valid token is required (Authorization: Bearer, or Basic with the token as the password)",
                       (BASIC_CHALLENGE, BEARER_CHALLENGE))
    if _authorization(headers)[0] == "basic":
        message = "changes need Authorization: Bearer with the token; Basic credentials (a browser's) are taken for reading only"
    else:
        message = "a valid bearer token is required"
    return Refused(Refusal.TOKEN, 401, message, (BEARER_CHALLENGE,))


def _cross_site(method: bytes, headers: Headers, policy: AdmissionPolicy) -> Refused | None:
    """
    A DNS-rebinding page (foreign Host) or a cross-origin change (Origin,
    Sec-Fetch-Site), or C{None}.
    """
    host = _one(headers, b"host")
    if host is False or (host is not None and not host_allowed(host, policy.allowed_hosts)):
        return Refused(Refusal.HOST, 403, "the Host header names neither a loopback name, an address nor one of [control] allowed_hosts")
    if method in SAFE_METHODS:
        return None
    origin = _one(headers, b"origin")
    if origin is False or (origin is not None and not _origin_matches(origin, host or None)):
        return Refused(Refusal.ORIGIN, 403, "cross-origin requests may not change anything")
    if _one(headers, b"sec-fetch-site") not in (None, "same-origin", "none"):
        return Refused(Refusal.ORIGIN, 403, "cross-site requests may not change anything")
    return None


def admit(method: bytes, headers: Headers, length: int | None, policy: AdmissionPolicy) -> Refused | None:
    """
    C{None} to take the request, else why not and what to answer.

    @param length: the body's declared length (0 for none), C{None} for a
        chunked body whose length is not known in advance.
    """
    if policy.browser_reachable:
        refused = _cross_site(method, headers, policy)
        if refused is not None:
            return refused
    if policy.token is not None and not token_presented(headers, policy.token, method):
        return _token_refused(method, headers)
    if length is None:
        return Refused(Refusal.LENGTH_REQUIRED, 411, "a request body needs a Content-Length")
    if length > policy.max_body:
        return Refused(Refusal.TOO_LARGE, 413, f"request body too large (at most {policy.max_body} bytes)")
    if length and method not in SAFE_METHODS:
        content_type = _one(headers, b"content-type") or ""
        if content_type.split(";")[0].strip().lower() != "application/json":
            return Refused(Refusal.CONTENT_TYPE, 415, "a request body must be Content-Type: application/json")
    return None
