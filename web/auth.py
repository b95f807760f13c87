"""Optional bearer tokens: a client token for runs and colours, an admin token for pulls,
tracks and pruning. With no tokens configured the API is open (a private deployment).

Tokens are compared in constant time, against every configured token, and never logged.
"""

import hashlib
import hmac
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, Literal, TypeVar

from flask import g, request

from app.config import Settings
from app.errors import Forbidden, Unauthorized

Role = Literal["client", "admin"]
F = TypeVar("F", bound=Callable[..., Any])


def _matches(given: str, tokens: Iterable[str]) -> bool:
    found = False
    for token in tokens:  # no early exit: the time taken does not say which token matched
        found |= hmac.compare_digest(given.encode(), token.encode())
    return found


def role_of(header: str | None, settings: Settings) -> Role | None:
    """The role a request's Authorization header grants, or None."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    if _matches(given.strip(), settings.admin_tokens):
        return "admin"
    if _matches(given.strip(), settings.client_tokens):
        return "client"
    return None


def client_of(header: str | None) -> str:
    """Who sent a request, for its katas and the jobs it may read: a digest of its bearer
    token, or `open` when it sent none (an open deployment, where every client is one)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "open"
    return hashlib.sha256(given.strip().encode()).hexdigest()[:32]


def requires(role: Role) -> Callable[[F], F]:
    """Guards a view: 401 without a valid token, 403 with a client token on an admin view.
    Sets `g.client` (see `client_of`) and `g.role`: `admin` for every request when no token
    is configured."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            from web.services import services

            settings = services().settings
            header = request.headers.get("Authorization")
            granted: Role | None = "admin"  # with no token configured, everyone is everyone
            if settings.client_tokens or settings.admin_tokens:
                granted = role_of(header, settings)
                if granted is None:
                    raise Unauthorized("a valid bearer token is required")
                if role == "admin" and granted != "admin":
                    raise Forbidden("this needs an admin token")
            g.client, g.role = client_of(header), granted
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
