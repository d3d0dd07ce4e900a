"""Tokens an attacker or a broken client could send, for the authentication battery."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization

from devauth.keys import algorithm_of, new_private_key
from recorder_common.auth import key_id
from tests.helpers import TEST_KEYS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims(sub: str = "alice", **overrides) -> dict:
    now = int(time.time())
    base = {"iss": "recorder-dev", "aud": "recorder", "sub": sub, "iat": now, "nbf": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict, key=None, kid: str | None = None) -> str:
    key = key or TEST_KEYS.user_key()
    return jwt.encode(payload, key, algorithm=algorithm_of(key),
                      headers={"kid": kid or key_id(key.public_key())})


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


def bad_authorization_values() -> dict[str, str | None]:
    """name -> the authorization header to send (None: no header at all)."""
    stranger = new_private_key()
    now = int(time.time())
    return {
        "no token": None,
        "not bearer": "Basic YWxpY2U6c2VjcmV0",
        "empty bearer": "Bearer ",
        "malformed": "Bearer not.a.jwt",
        "expired": "Bearer " + signed(claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "not yet valid": "Bearer " + signed(claims(iat=now, nbf=now + 3600, exp=now + 7200)),
        "wrong issuer": "Bearer " + signed(claims(iss="https://evil.example")),
        "wrong audience": "Bearer " + signed(claims(aud="someone-else")),
        "bad signature": "Bearer " + tampered(claims()),
        "alg none": "Bearer " + unsigned(claims()),
        "hmac with public key": "Bearer " + hmac_with_public_key(claims()),
        "unknown key": "Bearer " + signed(claims(), key=stranger),
        "unknown key, known kid": "Bearer " + signed(
            claims(), key=stranger, kid=key_id(TEST_KEYS.user_key().public_key())),
        "no expiry": "Bearer " + signed(claims(exp=None)),
    }


def bad_subjects() -> dict[str, str]:
    """Correctly signed tokens whose subject must still be refused."""
    return {
        "path in sub": "Bearer " + signed(claims(sub="../root")),
        "no sub": "Bearer " + signed(claims(sub=None)),
        "slash in sub": "Bearer " + signed(claims(sub="alice/../bob")),
        "service issuer, user key": "Bearer " + signed(claims(iss="recorder-services", aud="recorder-internal",
                                                              sub="ingest")),
    }
