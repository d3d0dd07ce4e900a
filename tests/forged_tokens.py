"""Tokens an attacker or a broken client could send, for the authentication battery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import serialization

from devauth.keys import algorithm_of, new_private_key
from recorder_common.auth import key_id
from tests.helpers import TEST_KEYS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(sub: str = "alice", relative: bool = False, **overrides) -> dict:
    """Claims made now (valid for 10 minutes unless overridden). relative=True: the time claims
    among the overrides are offsets in seconds from now rather than absolute times."""
    now = int(time.time())
    base = {"iss": "recorder-dev", "aud": "recorder", "sub": sub, "iat": now, "nbf": now, "exp": now + 600}
    if relative:
        overrides = {k: now + v if k in ("iat", "nbf", "exp") and v is not None else v for k, v in overrides.items()}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict, key=None, kid: str | None = None) -> str:
    key = key or TEST_KEYS.user_key()
    return jwt.encode(payload, key, algorithm=algorithm_of(key), headers={"kid": kid or key_id(key.public_key())})


def unsigned(payload: dict) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": key_id(TEST_KEYS.user_key().public_key())}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}."


def hmac_with_public_key(payload: dict) -> str:
    """The classic confusion: HS256 keyed with the verifier's own public key."""
    public = TEST_KEYS.user_key().public_key()
    secret = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(public)}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered(payload: dict) -> str:
    """A valid token for alice whose payload now claims bob: the signature no longer matches."""
    header, _, signature = signed(payload).split(".")
    other = dict(payload, sub="bob")
    return f"{header}.{_b64(json.dumps(other).encode())}.{signature}"


def _bearer(token: str) -> str:
    return "Bearer " + token


def _stranger() -> str:
    return _bearer(signed(claims(), key=new_private_key()))


def _stranger_with_known_kid() -> str:
    return _bearer(signed(claims(), key=new_private_key(), kid=key_id(TEST_KEYS.user_key().public_key())))


# name -> how to make the authorization header to send (None: no header at all). Every token is
# made when a test calls the builder, with times relative to that moment: a table minted at import
# expires while a slow suite is still collecting or running earlier tests.
BAD_AUTHORIZATION: dict[str, Callable[[], str | None]] = {
    "no token": lambda: None,
    "not bearer": lambda: "Basic YWxpY2U6c2VjcmV0",
    "empty bearer": lambda: "Bearer ",
    "malformed": lambda: "Bearer not.a.jwt",
    "expired": lambda: _bearer(signed(claims(iat=-7200, nbf=-7200, exp=-3600, relative=True))),
    "not yet valid": lambda: _bearer(signed(claims(nbf=3600, exp=7200, relative=True))),
    "wrong issuer": lambda: _bearer(signed(claims(iss="https://evil.example"))),
    "wrong audience": lambda: _bearer(signed(claims(aud="someone-else"))),
    "bad signature": lambda: _bearer(tampered(claims())),
    "alg none": lambda: _bearer(unsigned(claims())),
    "hmac with public key": lambda: _bearer(hmac_with_public_key(claims())),
    "unknown key": _stranger,
    "unknown key, known kid": _stranger_with_known_kid,
    "no expiry": lambda: _bearer(signed(claims(exp=None))),
}

# Correctly signed tokens whose subject must still be refused.
BAD_SUBJECTS: dict[str, Callable[[], str | None]] = {
    "path in sub": lambda: _bearer(signed(claims(sub="../root"))),
    "no sub": lambda: _bearer(signed(claims(sub=None))),
    "slash in sub": lambda: _bearer(signed(claims(sub="alice/../bob"))),
    "service issuer, user key": lambda: _bearer(
        signed(claims(iss="recorder-services", aud="recorder-internal", sub="ingest"))
    ),
}

BAD_CREDENTIALS = {**BAD_AUTHORIZATION, **BAD_SUBJECTS}


def bad_authorization(case: str) -> str | None:
    """The authorization header for one case of BAD_CREDENTIALS, made now."""
    return BAD_CREDENTIALS[case]()
