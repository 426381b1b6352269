"""Bearer-token auth like the app's: a JWT signed by the app, the caller looked up in the store.

401 for anything wrong with the token or an unknown user, 403 for an inactive user.
Never accepts `alg: none` (the accepted algorithms come from config, which refuses it).
"""

from __future__ import annotations

import uuid

import jwt
from fastapi import HTTPException, status

from etl.config import Config
from metrics_api.reader import Snapshot, User

CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers=CHALLENGE)


def authenticate(authorization: str | None, config: Config, snapshot: Snapshot) -> User:
    if not authorization:
        raise unauthorized("missing Authorization header; send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be `Bearer <token>`")
    assert config.jwt_secret is not None  # create_app refuses to start without one
    try:
        claims = jwt.decode(
            token.strip(),
            config.jwt_secret,
            algorithms=list(config.jwt_algorithms),
            audience=config.jwt_audience,
            issuer=config.jwt_issuer,
            options={"require": ["exp"], "verify_aud": config.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise unauthorized(f"invalid token: {exc}") from None
    raw_id = claims.get(config.jwt_user_claim)
    try:
        user_id = str(uuid.UUID(str(raw_id)))
    except ValueError:
        raise unauthorized(f"the token's {config.jwt_user_claim!r} claim is not a user id") from None
    user = snapshot.users.get(user_id)
    if user is None:
        raise unauthorized("unknown user")
    if not user.is_active:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this user is deactivated")
    return user
