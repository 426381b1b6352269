"""Bearer-token auth like the app's: a JWT signed by the app, the caller looked up in the store.

401 (with `WWW-Authenticate: Bearer`) for a missing, garbled, expired or badly signed token,
a token without a UUID user claim, or a user the store does not know; 403 for a
deactivated user or a dashboard the user's role may not read. Never accepts `alg: none`:
only the configured algorithms verify, and Config refuses 'none'. Reads no environment
and no database: the users dimension comes from the caller's snapshot.

A 401's detail is one of a few fixed sentences (MISSING_TOKEN ... UNKNOWN_USER), each
saying what the client can do about it; never the JWT library's own words, which describe
its internals (a codec error, a padding error) rather than the caller's mistake.
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
MISSING_TOKEN = "Missing token: send `Authorization: Bearer <token>`"
MALFORMED_TOKEN = "Malformed token: not a JWT"
EXPIRED_TOKEN = "Token has expired"
BAD_SIGNATURE = "Bad signature: not signed with this API's key and algorithm"
UNKNOWN_USER = "Unknown user"
NOT_YET_VALID = "Malformed token: not valid yet (nbf or iat in the future)"
WRONG_AUDIENCE = "Malformed token: not issued for this API (audience or issuer)"
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
            raise unauthorized(MISSING_TOKEN)
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
        except jwt.InvalidTokenError as exc:
            raise unauthorized(self._refusal(exc)) from None
        raw = claims.get(self._claim)
        try:
            # A string only: an integer claim could otherwise parse as a hex UUID.
            if not isinstance(raw, str):
                raise ValueError(raw)
            user_id = str(uuid.UUID(raw))
        except ValueError:
            raise unauthorized(self._no_user_id) from None
        return user_id, _expiry(claims)

    @property
    def _no_user_id(self) -> str:
        return f"Malformed token: its {self._claim!r} claim is not a user id (UUID)"

    def _refusal(self, exc: jwt.InvalidTokenError) -> str:
        """The fixed detail for a token PyJWT refused (its message is never passed on)."""
        # Subclasses before their bases: InvalidSignatureError is a DecodeError.
        if isinstance(exc, jwt.ExpiredSignatureError):
            return EXPIRED_TOKEN
        if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidAlgorithmError | jwt.InvalidKeyError):
            return BAD_SIGNATURE  # also `alg: none` and an algorithm not configured
        if isinstance(exc, jwt.ImmatureSignatureError):
            return NOT_YET_VALID
        if isinstance(exc, jwt.InvalidAudienceError | jwt.InvalidIssuerError):
            return WRONG_AUDIENCE
        if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim in ("aud", "iss"):
            return WRONG_AUDIENCE  # an audience or issuer is configured and the token has none
        if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim == self._claim:
            return self._no_user_id
        if isinstance(exc, jwt.exceptions.InvalidSubjectError) and self._claim == "sub":
            return self._no_user_id  # PyJWT's own check: `sub` must be a string
        return MALFORMED_TOKEN  # not three base64url parts of JSON, or a claim of the wrong type


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
        raise unauthorized(UNKNOWN_USER)
    if not user.is_active:
        raise forbidden("User is inactive")
    return user


def require_team_reader(user: User) -> None:
    if not (user.is_team_admin or user.is_super_admin):
        raise forbidden("Team analytics are for team admins and super admins")


def may_read_tree(user: User, tree_account_id: str) -> bool:
    return user.is_super_admin or user.account_id == tree_account_id
