"""Bearer-token auth like the app's: a JWT signed by the app, the caller looked up in the store.

401 (with `WWW-Authenticate: Bearer`) for a missing, garbled, expired or badly signed token,
a token without a UUID user claim, or a user the store does not know; 403 for a
deactivated user or a dashboard the user's role may not read. Never accepts `alg: none`:
only the configured algorithms verify, and Config refuses 'none'. Reads no environment
and no database: the users dimension comes from the caller's snapshot.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import jwt
from fastapi import HTTPException, status

from etl.config import Config
from metrics_api.snapshot import Snapshot, User

CHALLENGE = {"WWW-Authenticate": "Bearer"}
VERIFIED_TOKENS = 10_000
"""Tokens remembered after a full check; a dashboard sends the same token on every call."""


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=CHALLENGE)


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


class TokenVerifier:
    """Checks a bearer token and returns the caller's user id (canonical UUID text)."""

    def __init__(self, config: Config, secret: str) -> None:
        if not config.jwt_algorithms or any(a.lower() == "none" for a in config.jwt_algorithms):
            # Config already refuses this; a hand-built Config must not slip it through.
            raise ValueError("jwt_algorithms must name real algorithms, never 'none'")
        self._secret = secret
        self._algorithms = list(config.jwt_algorithms)
        self._audience = config.jwt_audience
        self._issuer = config.jwt_issuer
        self._claim = config.jwt_user_claim
        # exp/nbf are verified when present (PyJWT's default), as the app's own check does.
        # Audience is verified only when configured: the app's tokens may carry one we ignore.
        self._options: dict[str, Any] = {"require": [self._claim], "verify_aud": self._audience is not None}
        # token -> (user id, exp or None). Keyed by the whole signed token, so only a token
        # that passed every check is ever found here; its expiry is re-checked on each use.
        self._verified: dict[str, tuple[str, float | None]] = {}
        self._verified_lock = threading.Lock()

    def bearer_user_id(self, authorization: str | None) -> str:
        """The user id of an `Authorization: Bearer <token>` header value."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Not authenticated: send `Authorization: Bearer <token>`")
        return self.user_id(token.strip())

    def user_id(self, token: str) -> str:
        known = self._verified.get(token)
        # PyJWT's rule: expired once now >= exp.
        if known is not None and (known[1] is None or time.time() < known[1]):
            return known[0]
        user_id, expires = self._verify(token)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.pop(next(iter(self._verified)), None)  # oldest first
            self._verified[token] = (user_id, expires)
        return user_id

    def _verify(self, token: str) -> tuple[str, float | None]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                options=self._options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("Token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise unauthorized(f"Invalid token: {exc}") from None
        raw = claims.get(self._claim)
        try:
            # A string only: an integer claim could otherwise parse as a hex UUID.
            if not isinstance(raw, str):
                raise ValueError(raw)
            user_id = str(uuid.UUID(raw))
        except ValueError:
            raise unauthorized(f"Invalid token: the {self._claim!r} claim is not a user id (UUID)") from None
        return user_id, _expiry(claims)


def _expiry(claims: dict[str, Any]) -> float | None:
    """When a verified token expires, read as PyJWT reads it (`int(exp)`: "1796..." counts too).

    A remembered token must expire exactly when a fresh check would refuse it.
    """
    if "exp" not in claims:
        return None
    return float(int(claims["exp"]))  # PyJWT already refused an exp that int() does not take


def caller(snapshot: Snapshot, user_id: str) -> User:
    """The active user behind a verified token, from the snapshot the request uses."""
    user = snapshot.users.get(user_id)
    if user is None:
        raise unauthorized("Unknown user")
    if not user.is_active:
        raise forbidden("User is inactive")
    return user


def require_team_reader(user: User) -> None:
    if not (user.is_team_admin or user.is_super_admin):
        raise forbidden("Team analytics are for team admins and super admins")


def may_read_tree(user: User, tree_account_id: str) -> bool:
    return user.is_super_admin or user.account_id == tree_account_id
