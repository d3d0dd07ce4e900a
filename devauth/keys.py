"""Development keys: a local identity provider for the embedded stack and the tests.

Writes, once, into one folder (never committed):
  users-key.pem, users.jwks.json        signs and verifies end-user tokens (ES256)
  service-key.pem, services.jwks.json   signs and verifies our services' tokens to each other (ES256)
and mints user tokens with an expiry. Production replaces the user half with a real identity
provider's JWKS and gives each deployment its own service key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from recorder_common.auth import AuthSettings, TokenPolicy, key_id, max_token_lifetime
from recorder_common.ids import check_user_id

USERS_KEY, USERS_JWKS = "users-key.pem", "users.jwks.json"
SERVICE_KEY, SERVICES_JWKS = "service-key.pem", "services.jwks.json"


def new_private_key(kind: str = "EC"):
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key) -> dict:
    public = private_key.public_key()
    is_ec = isinstance(public, ec.EllipticCurvePublicKey)
    jwk = json.loads((ECAlgorithm if is_ec else RSAAlgorithm).to_jwk(public))
    jwk.update(kid=key_id(public), alg="ES256" if is_ec else "RS256", use="sig")
    return jwk


def algorithm_of(private_key) -> str:
    return "ES256" if isinstance(private_key, ec.EllipticCurvePrivateKey) else "RS256"


def pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: pathlib.Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _ensure_pair(folder: pathlib.Path, key_name: str, jwks_name: str) -> None:
    key_path, jwks_path = folder / key_name, folder / jwks_name
    if key_path.exists() and jwks_path.exists():
        return
    key = new_private_key()
    _write_private(key_path, pem(key))
    jwks_path.write_text(json.dumps({"keys": [public_jwk(key)]}, indent=2))


@dataclasses.dataclass(frozen=True)
class DevKeys:
    folder: pathlib.Path

    def auth_settings(
        self, issuer: str = AuthSettings().users.issuer, audience: str = AuthSettings().users.audience
    ) -> AuthSettings:
        d = AuthSettings()
        return AuthSettings(
            users=TokenPolicy(issuer, audience, str(self.folder / USERS_JWKS)),
            services=TokenPolicy(
                d.services.issuer,
                d.services.audience,
                str(self.folder / SERVICES_JWKS),
                max_lifetime_seconds=d.services.max_lifetime_seconds,
            ),
            service_key_file=str(self.folder / SERVICE_KEY),
        )

    def env(self) -> dict[str, str]:
        """The settings above as the services' environment variables."""
        s = self.auth_settings()
        return {
            "AUTH_JWKS_FILE": s.users.jwks_file,
            "SERVICE_JWKS_FILE": s.services.jwks_file,
            "SERVICE_KEY_FILE": s.service_key_file,
            "AUTH_ISSUER": s.users.issuer,
            "AUTH_AUDIENCE": s.users.audience,
        }

    def user_key(self):
        return serialization.load_pem_private_key((self.folder / USERS_KEY).read_bytes(), password=None)

    def mint(
        self,
        user_id: str,
        ttl_seconds: int = 3600,
        issuer: str = AuthSettings().users.issuer,
        audience: str = AuthSettings().users.audience,
        now: float | None = None,
    ) -> str:
        check_user_id(user_id)
        # The services refuse a token that lives longer than their limit, so never mint one.
        longest = max_token_lifetime(os.environ)
        if not 0 < ttl_seconds <= longest:
            raise ValueError(
                f"a token's lifetime must be 1 to {longest} s (AUTH_MAX_TOKEN_LIFETIME_SECONDS), not {ttl_seconds}"
            )
        key = self.user_key()
        now = time.time() if now is None else now
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": user_id,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + ttl_seconds,
        }
        return jwt.encode(claims, key, algorithm=algorithm_of(key), headers={"kid": key_id(key.public_key())})


def ensure_keys(folder: str | os.PathLike) -> DevKeys:
    path = pathlib.Path(folder).resolve()
    path.mkdir(parents=True, exist_ok=True)  # the JWKS files are public; the private keys are 0600
    _ensure_pair(path, USERS_KEY, USERS_JWKS)
    _ensure_pair(path, SERVICE_KEY, SERVICES_JWKS)
    return DevKeys(path)
