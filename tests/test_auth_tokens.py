"""TokenVerifier and ServiceTokenSigner on their own: real keys and real signatures, no server."""
from __future__ import annotations

import json
import os
import time

import jwt
import pytest

from devauth.keys import ensure_keys, new_private_key, public_jwk
from recorder_common.auth import (Authenticator, JwksFile, ServiceTokenSigner, TokenPolicy, TokenVerifier,
                                  key_id)
from recorder_common.errors import Unauthenticated
from tests.forged_tokens import claims, signed


def write_jwks(path, *keys, extra=()):
    path.write_text(json.dumps({"keys": [public_jwk(k) for k in keys] + list(extra)}))


def test_rs256_and_es256_keys_both_verify(tmp_path):
    rsa_key, ec_key = new_private_key("RSA"), new_private_key("EC")
    write_jwks(tmp_path / "jwks.json", rsa_key, ec_key)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json")))
    assert verifier.verify(signed(claims(sub="r"), key=rsa_key))["sub"] == "r"
    assert verifier.verify(signed(claims(sub="e"), key=ec_key))["sub"] == "e"


def test_a_key_is_used_only_with_its_own_algorithm(tmp_path):
    rsa_key, ec_key = new_private_key("RSA"), new_private_key("EC")
    write_jwks(tmp_path / "jwks.json", ec_key)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json")))
    # An RS256 token that names the EC key's kid.
    forged = signed(claims(), key=rsa_key, kid=key_id(ec_key.public_key()))
    with pytest.raises(Unauthenticated, match="cannot verify RS256"):
        verifier.verify(forged)


def test_symmetric_keys_in_a_jwks_are_ignored(tmp_path):
    secret = b"s" * 32
    write_jwks(tmp_path / "jwks.json", new_private_key(),
               extra=[{"kty": "oct", "k": jwt.utils.base64url_encode(secret).decode(), "kid": "hmac", "alg": "HS256"}])
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json")))
    token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "hmac"})
    with pytest.raises(Unauthenticated, match="HS256"):
        verifier.verify(token)
    assert verifier.keys.key("hmac") is None


def test_rotated_keys_are_picked_up_without_a_restart(tmp_path, monkeypatch):
    old, new = new_private_key(), new_private_key()
    path = tmp_path / "jwks.json"
    write_jwks(path, old)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(path)))
    with pytest.raises(Unauthenticated, match="does not know"):
        verifier.verify(signed(claims(), key=new))
    write_jwks(path, old, new)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    monkeypatch.setattr(JwksFile, "RECHECK_SECONDS", 0.0)
    assert verifier.verify(signed(claims(), key=new))["sub"] == "alice"


def test_missing_jwks_fails_at_start_with_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="dev token"):
        TokenVerifier(TokenPolicy("i", "a", str(tmp_path / "absent.json")))


def test_service_tokens_are_reused_then_renewed(tmp_path):
    keys = ensure_keys(tmp_path / "auth")
    settings = keys.auth_settings()
    now = [1_000_000.0]
    signer = ServiceTokenSigner(settings, "media", clock=lambda: now[0])
    first = signer.token()
    assert signer.token() == first
    now[0] += 200  # past half the lifetime
    assert signer.token() != first
    decoded = jwt.decode(signer.token(), options={"verify_signature": False})
    assert decoded["sub"] == "media" and decoded["aud"] == "recorder-internal"
    assert decoded["exp"] - decoded["iat"] == 300


def test_service_token_names_the_user_it_acts_for(tmp_path):
    keys = ensure_keys(tmp_path / "auth")
    settings = keys.auth_settings()
    authenticator = Authenticator(settings)
    service = ("authorization", f"Bearer {ServiceTokenSigner(settings, 'ingest').token()}")
    identity = authenticator.identify([service, ("x-on-behalf-of", "alice")])
    assert (identity.user_id, identity.service) == ("alice", "ingest")
    with pytest.raises(Unauthenticated, match="x-on-behalf-of"):
        authenticator.identify([service, ("x-on-behalf-of", "../alice")])
    # A user token is a user, whatever else it sends.
    user = authenticator.identify([("authorization", f"Bearer {keys.mint('bob')}"), ("x-on-behalf-of", "alice")])
    assert (user.user_id, user.service) == ("bob", None)


def test_a_token_is_verified_once_then_remembered(tmp_path, monkeypatch):
    key = new_private_key()
    write_jwks(tmp_path / "jwks.json", key)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json")))
    checks = []
    real = verifier._verify_signed
    monkeypatch.setattr(verifier, "_verify_signed", lambda token: checks.append(token) or real(token))
    token = signed(claims(sub="bob"), key=key)
    assert all(verifier.verify(token)["sub"] == "bob" for _ in range(50))
    assert len(checks) == 1
    # A different token (another signature) is checked on its own.
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))


def test_a_remembered_token_still_expires(tmp_path):
    key = new_private_key()
    write_jwks(tmp_path / "jwks.json", key)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json"), leeway_seconds=0))
    token = signed(claims(exp=int(time.time()) + 1), key=key)
    verifier.verify(token)
    time.sleep(max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] - time.time()) + 0.2)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_a_remembered_token_is_refused_once_its_key_leaves_the_jwks(tmp_path, monkeypatch):
    old, new = new_private_key(), new_private_key()
    path = tmp_path / "jwks.json"
    write_jwks(path, old, new)
    verifier = TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(path)))
    token = signed(claims(), key=old)
    verifier.verify(token)
    write_jwks(path, new)  # the old key is revoked
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    monkeypatch.setattr(JwksFile, "RECHECK_SECONDS", 0.0)
    with pytest.raises(Unauthenticated, match="does not know"):
        verifier.verify(token)
