"""Bearer JWTs as the app signs them: what is refused with 401/403, and the configurable checks."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from etl.config import Config
from etl.publish import PublishResult
from tests.api.conftest import SECRET, bearer, encode_token, unsigned_token
from tests.api.sample import ADMIN_A, ENGINEER_A, INACTIVE_A, UNKNOWN_USER

ME = "/analytics/me"
Token = Callable[..., str]
Client = Callable[[Config], TestClient]


@pytest.fixture
def metrics_db(sample_store: PublishResult) -> str:
    return str(sample_store.path.parent / sample_store.path.name.split(".v")[0])


def assert_401(response: Any) -> None:  # the TestClient's response type
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


def expired() -> str:
    return encode_token(ENGINEER_A, exp=datetime.now(UTC) - timedelta(seconds=5))


REFUSED: dict[str, Callable[[], dict[str, str]]] = {
    "no-header": lambda: {},
    "empty-bearer": lambda: {"Authorization": "Bearer "},
    "basic-scheme": lambda: {"Authorization": "Basic dXNlcjpwYXNz"},
    "token-without-scheme": lambda: {"Authorization": encode_token(ENGINEER_A)},
    "garbled": lambda: bearer("not.a.jwt"),
    "truncated": lambda: bearer(encode_token(ENGINEER_A)[:-4]),
    "expired": lambda: bearer(expired()),
    "bad-signature": lambda: bearer(encode_token(ENGINEER_A, secret="another-secret-" + "x" * 64)),
    "alg-none": lambda: bearer(unsigned_token({"sub": ENGINEER_A})),
    "alg-not-configured": lambda: bearer(encode_token(ENGINEER_A, algorithm="HS512")),
    "not-yet-valid": lambda: bearer(encode_token(ENGINEER_A, nbf=datetime.now(UTC) + timedelta(hours=1))),
    "missing-claim": lambda: bearer(encode_token(None)),
    "claim-not-uuid": lambda: bearer(encode_token("alice")),
    "claim-integer": lambda: bearer(jwt.encode({"sub": 1, "exp": 2**33}, SECRET, algorithm="HS256")),
    "unknown-user": lambda: bearer(encode_token(UNKNOWN_USER)),
}


@pytest.mark.parametrize("headers", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("path", [ME, "/analytics/team", "/analytics/flows/71000000-0000-4000-8000-0000000000a1"])
def test_refused_with_401(sample_client: TestClient, headers: Callable[[], dict[str, str]], path: str) -> None:
    assert_401(sample_client.get(path, headers=headers()))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


MISSING = "Missing token: send `Authorization: Bearer <token>`"
MALFORMED = "Malformed token: not a JWT"
EXPIRED = "Token has expired"
BAD_SIGNATURE = "Bad signature: not signed with this API's key and algorithm"
NO_USER_ID = "Malformed token: its 'sub' claim is not a user id (UUID)"
NOT_YET_VALID = "Malformed token: not valid yet (nbf or iat in the future)"
SAID = {
    "no-header": MISSING,
    "empty-bearer": MISSING,
    "basic-scheme": MISSING,
    "token-without-scheme": MISSING,
    "garbled": MALFORMED,
    "truncated": BAD_SIGNATURE,  # or MALFORMED, as the cut signature's base64 happens to decode
    "expired": EXPIRED,
    "bad-signature": BAD_SIGNATURE,
    "alg-none": BAD_SIGNATURE,
    "alg-not-configured": BAD_SIGNATURE,
    "not-yet-valid": NOT_YET_VALID,
    "missing-claim": NO_USER_ID,
    "claim-not-uuid": NO_USER_ID,
    "claim-integer": NO_USER_ID,
    "unknown-user": "Unknown user",
}
HS256_HEADER = b64(b'{"alg": "HS256", "typ": "JWT"}')
GARBAGE: dict[str, str] = {
    # A header that is base64 of bytes that are not UTF-8: PyJWT's message quotes its codec.
    "header-not-utf8": f"{b64(bytes([0xB7, 0xFF, 0x00, 0x9C]))}.{b64(b'{}')}.{b64(b'sig')}",
    "payload-not-utf8": f"{HS256_HEADER}.{b64(bytes([0xB7, 0xFE]))}.c2ln",
    "header-not-json": f"{b64(b'not json')}.{b64(b'{}')}.c2ln",
    "header-a-list": f"{b64(b'[1, 2]')}.{b64(b'{}')}.c2ln",
    "bad-padding": "a.b.c",
    "bad-base64": "!!!.???.***",
    "one-segment": "garbage",
    "not-ascii": "ünï.cödé.💥",
}


@pytest.mark.parametrize("name", SAID)
def test_401_says_what_the_client_can_act_on(sample_client: TestClient, name: str) -> None:
    response = sample_client.get(ME, headers=REFUSED[name]())
    assert_401(response)
    said = {SAID[name], MALFORMED} if name == "truncated" else {SAID[name]}
    assert response.json()["detail"] in said


@pytest.mark.parametrize("token", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_tokens_get_a_fixed_sentence_not_the_libraries_words(sample_client: TestClient, token: str) -> None:
    # As bytes: a header that is not ASCII reaches the server as it was sent (read as latin-1).
    response = sample_client.get(ME, headers={"Authorization": b"Bearer " + token.encode()})
    assert_401(response)
    assert response.json()["detail"] in {MALFORMED, BAD_SIGNATURE}
    for internal in ("codec", "utf-8", "0xb7", "padding", "segments", "Invalid", "decode", "JSON"):
        assert internal not in response.text


def test_audience_and_issuer_refusals_say_so(
    api_client: Client, make_config: Callable[..., Config], metrics_db: str
) -> None:
    client = api_client(make_config(METRICS_DB=metrics_db, METRICS_JWT_AUDIENCE="rf", METRICS_JWT_ISSUER="https://app"))
    for claims in (
        {"aud": "other", "iss": "https://app"},
        {"aud": "rf", "iss": "https://evil"},
        {"iss": "https://app"},
    ):
        response = client.get(ME, headers=bearer(encode_token(ENGINEER_A, **claims)))
        assert_401(response)
        assert response.json() == {"detail": "Malformed token: not issued for this API (audience or issuer)"}


def test_accepted_token_and_uppercase_claim(sample_client: TestClient, make_token: Token) -> None:
    assert sample_client.get(ME, headers=bearer(make_token(ENGINEER_A))).status_code == 200
    assert sample_client.get(ME, headers=bearer(make_token(ENGINEER_A.upper()))).status_code == 200


def test_token_without_exp_is_accepted_like_the_app(sample_client: TestClient) -> None:
    token = jwt.encode({"sub": ENGINEER_A}, SECRET, algorithm="HS256")
    assert sample_client.get(ME, headers=bearer(token)).status_code == 200


def test_inactive_user_is_403_not_401(sample_client: TestClient, make_token: Token) -> None:
    response = sample_client.get(ME, headers=bearer(make_token(INACTIVE_A)))
    assert response.status_code == 403
    assert "www-authenticate" not in response.headers


def test_audience_and_issuer_enforced_when_configured(
    api_client: Client, make_config: Callable[..., Config], metrics_db: str
) -> None:
    client = api_client(
        make_config(METRICS_DB=metrics_db, METRICS_JWT_AUDIENCE="resolutionflow", METRICS_JWT_ISSUER="https://app")
    )
    good = {"aud": "resolutionflow", "iss": "https://app"}
    assert client.get(ME, headers=bearer(encode_token(ENGINEER_A, **good))).status_code == 200
    listed = encode_token(ENGINEER_A, aud=["x", "resolutionflow"], iss="https://app")
    assert client.get(ME, headers=bearer(listed)).status_code == 200
    for claims in (
        {"iss": "https://app"},  # no audience
        {**good, "aud": "another-service"},
        {"aud": "resolutionflow"},  # no issuer
        {**good, "iss": "https://evil"},
    ):
        assert_401(client.get(ME, headers=bearer(encode_token(ENGINEER_A, **claims))))


def test_audience_in_token_ignored_when_not_configured(sample_client: TestClient) -> None:
    token = encode_token(ENGINEER_A, aud="whatever", iss="whoever")
    assert sample_client.get(ME, headers=bearer(token)).status_code == 200


def test_custom_user_claim(api_client: Client, make_config: Callable[..., Config], metrics_db: str) -> None:
    client = api_client(make_config(METRICS_DB=metrics_db, METRICS_JWT_USER_CLAIM="user_id"))
    assert client.get(ME, headers=bearer(encode_token(None, user_id=ENGINEER_A))).status_code == 200
    # The default claim no longer counts.
    assert_401(client.get(ME, headers=bearer(encode_token(ENGINEER_A))))
    assert_401(client.get(ME, headers=bearer(encode_token(ENGINEER_A, user_id="not-a-uuid"))))


def test_configured_algorithms(api_client: Client, make_config: Callable[..., Config], metrics_db: str) -> None:
    client = api_client(make_config(METRICS_DB=metrics_db, METRICS_JWT_ALGORITHMS="HS512"))
    assert client.get(ME, headers=bearer(encode_token(ENGINEER_A, algorithm="HS512"))).status_code == 200
    assert_401(client.get(ME, headers=bearer(encode_token(ENGINEER_A))))
    assert_401(client.get(ME, headers=bearer(unsigned_token({"sub": ENGINEER_A}))))


def test_token_is_checked_before_the_store(api_client: Client, make_config: Callable[..., Config]) -> None:
    # No store published: a bad token is still a 401, a good one learns the store is missing.
    client = api_client(make_config())
    assert_401(client.get(ME, headers=bearer("garbage")))
    response = client.get(ME, headers=bearer(encode_token(str(uuid.uuid4()))))
    assert response.status_code == 503
    assert "no store" in response.json()["detail"]
    assert client.get("/analytics/team", headers=bearer(encode_token(ADMIN_A))).status_code == 503


# PyJWT takes a numeric string for exp (it reads int(exp)); the remembered token must
# expire all the same, not be kept as one without expiry.
@pytest.mark.parametrize("exp_type", [int, str], ids=["exp-number", "exp-numeric-string"])
def test_a_remembered_token_still_expires(sample_client: TestClient, exp_type: Callable[[int], object]) -> None:
    exp = int(time.time()) + 2  # valid for at least one second: the first answers may be slow
    token = bearer(encode_token(ENGINEER_A, exp=exp_type(exp)))
    assert sample_client.get(ME, headers=token).status_code == 200
    assert sample_client.get(ME, headers=token).status_code == 200  # answered from the verified tokens
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    response = sample_client.get(ME, headers=token)
    assert_401(response)
    assert response.json() == {"detail": "Token has expired"}
