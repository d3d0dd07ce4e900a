"""TokenVerifier and ServiceTokenSigner on their own: real keys and real signatures, no server."""

from __future__ import annotations

import json
import os
import time

import jwt
import pytest

from devauth.keys import ensure_keys, new_private_key, public_jwk
from recorder_common.auth import Authenticator, JwksFile, ServiceTokenSigner, TokenPolicy, TokenVerifier, key_id
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
    write_jwks(
        tmp_path / "jwks.json",
        new_private_key(),
        extra=[{"kty": "oct", "k": jwt.utils.base64url_encode(secret).decode(), "kid": "hmac", "alg": "HS256"}],
    )
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
    now = [time.time()]
    verifier = TokenVerifier(
        TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json"), leeway_seconds=0), clock=lambda: now[0]
    )
    token = signed(claims(exp=int(now[0]) + 60), key=key)
    verifier.verify(token)
    now[0] += 61  # a minute later on the verifier's clock: no sleeping, whatever the machine's load
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


# ---- maximum lifetime --------------------------------------------------------------------------


def lifetime_verifier(tmp_path, max_lifetime_seconds=None):
    key = new_private_key()
    write_jwks(tmp_path / "jwks.json", key)
    limit = {} if max_lifetime_seconds is None else {"max_lifetime_seconds": max_lifetime_seconds}
    return key, TokenVerifier(TokenPolicy("recorder-dev", "recorder", str(tmp_path / "jwks.json"), **limit))


def test_a_token_valid_until_the_year_9999_is_refused(tmp_path):
    key, verifier = lifetime_verifier(tmp_path)
    now = int(time.time())
    with pytest.raises(Unauthenticated, match=r"valid for \d+ s \(exp - iat\).*at most 86400 s"):
        verifier.verify(signed(claims(iat=now, nbf=now, exp=253402300799), key=key))


# Times in seconds from now. exp - iat is held to the maximum; without iat, exp - now is.
@pytest.mark.parametrize(
    ("times", "refusal"),
    [
        pytest.param({"iat": 0, "exp": 3600}, None, id="exp-iat-at-the-maximum"),
        pytest.param({"iat": 0, "exp": 3601}, "at most 3600 s", id="exp-iat-past-the-maximum"),
        # An old iat does not make a long-lived token acceptable because it has little time left.
        pytest.param({"iat": -7200, "nbf": -7200, "exp": 60}, "at most 3600 s", id="old-iat-little-time-left"),
        pytest.param({"iat": None, "exp": 1800}, None, id="no-iat-within-the-maximum-from-now"),
        pytest.param(
            {"iat": None, "exp": 7200}, "no iat and expires more than 3600 s from now", id="no-iat-past-the-maximum"
        ),
    ],
)
def test_the_lifetime_is_held_to_the_maximum(tmp_path, times, refusal):
    key, verifier = lifetime_verifier(tmp_path, max_lifetime_seconds=3600)
    token = signed(claims(relative=True, **times), key=key)
    if refusal is None:
        assert verifier.verify(token)["sub"] == "alice"
    else:
        with pytest.raises(Unauthenticated, match=refusal):
            verifier.verify(token)


def test_the_maximum_comes_from_the_environment(monkeypatch):
    from recorder_common.auth import AuthSettings

    assert AuthSettings.from_env({}).users.max_lifetime_seconds == 24 * 3600
    assert AuthSettings.from_env({"AUTH_MAX_TOKEN_LIFETIME_SECONDS": "600"}).users.max_lifetime_seconds == 600
    assert AuthSettings.from_env({}).services.max_lifetime_seconds >= 300  # our signer's tokens fit
    for bad in ("0", "-5", "a day"):
        with pytest.raises(ValueError, match="AUTH_MAX_TOKEN_LIFETIME_SECONDS"):
            AuthSettings.from_env({"AUTH_MAX_TOKEN_LIFETIME_SECONDS": bad})


def test_dev_tokens_stay_within_the_maximum(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTH_MAX_TOKEN_LIFETIME_SECONDS", raising=False)
    keys = ensure_keys(tmp_path / "auth")
    verifier = Authenticator(keys.auth_settings())
    # `./dev token`'s default (12 h) and the longest allowed are accepted by the services.
    for ttl in (12 * 3600, 24 * 3600):
        assert verifier.identify([("authorization", f"Bearer {keys.mint('alice', ttl)}")]).user_id == "alice"
    with pytest.raises(ValueError, match="at most|1 to 86400 s"):
        keys.mint("alice", 24 * 3600 + 1)
    monkeypatch.setenv("AUTH_MAX_TOKEN_LIFETIME_SECONDS", "600")
    with pytest.raises(ValueError, match="1 to 600 s"):
        keys.mint("alice", 3600)


def test_devauth_cli_refuses_a_lifetime_over_the_maximum(tmp_path):
    import subprocess
    import sys

    env = {**os.environ, "AUTH_MAX_TOKEN_LIFETIME_SECONDS": "86400"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devauth",
            "--dir",
            str(tmp_path / "auth"),
            "token",
            "alice",
            "--ttl",
            str(10 * 365 * 86400),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0 and "1 to 86400 s" in result.stderr and "Traceback" not in result.stderr
    default = subprocess.run(
        [sys.executable, "-m", "devauth", "--dir", str(tmp_path / "auth"), "token", "alice"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert default.returncode == 0, default.stderr
    decoded = jwt.decode(default.stdout.strip(), options={"verify_signature": False})
    assert decoded["exp"] - decoded["iat"] == 12 * 3600
