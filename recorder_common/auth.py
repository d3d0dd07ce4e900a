"""Bearer JWT authentication: who a call comes from.

Two kinds of token reach our services, told apart by their issuer and each verified in full:
- user tokens from the identity provider (RS256 or ES256, keys from its JWKS): the `sub` claim is the
  user id, checked against the strict user-id pattern before it is used anywhere;
- service tokens our own services sign for each other, with their own keys, issuer and audience, so
  a user token can never open an internal RPC. A service token may name the user it acts for in
  `x-on-behalf-of`; that header means nothing without one.

HMAC and `none` are never accepted, and a key is only used with the algorithm of its own type, which
rules out the HMAC-with-a-public-key confusion.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from recorder_common.errors import PermissionDenied, Unauthenticated
from recorder_common.ids import is_valid_user_id

# A verified token's claims, as PyJWT decodes them.
Claims = dict[str, Any]

AUTHORIZATION_HEADER = "authorization"
ON_BEHALF_OF_HEADER = "x-on-behalf-of"
# Algorithm -> the JWK key type it needs.
ALLOWED_ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}
SERVICE_TOKEN_SECONDS = 300
# A stolen token is good until it expires: no user token may be made to last longer than this.
DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600
# Ours last SERVICE_TOKEN_SECONDS; anything much longer was not signed by our signer's rules.
SERVICE_MAX_TOKEN_LIFETIME_SECONDS = 3600


@dataclasses.dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    jwks_file: str
    leeway_seconds: int = 30
    # exp - iat may not exceed this (exp - now, for a token without iat).
    max_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS


@dataclasses.dataclass(frozen=True)
class AuthSettings:
    users: TokenPolicy = TokenPolicy("recorder-dev", "recorder", "./data/auth/users.jwks.json")
    services: TokenPolicy = TokenPolicy(
        "recorder-services",
        "recorder-internal",
        "./data/auth/services.jwks.json",
        max_lifetime_seconds=SERVICE_MAX_TOKEN_LIFETIME_SECONDS,
    )
    # The private key (PEM) this service signs its outbound service tokens with.
    service_key_file: str = "./data/auth/service-key.pem"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "AuthSettings":
        d = cls()
        return cls(
            users=TokenPolicy(
                env.get("AUTH_ISSUER", d.users.issuer),
                env.get("AUTH_AUDIENCE", d.users.audience),
                env.get("AUTH_JWKS_FILE", d.users.jwks_file),
                int(env.get("AUTH_LEEWAY_SECONDS", d.users.leeway_seconds)),
                max_token_lifetime(env),
            ),
            services=TokenPolicy(
                env.get("SERVICE_ISSUER", d.services.issuer),
                env.get("SERVICE_AUDIENCE", d.services.audience),
                env.get("SERVICE_JWKS_FILE", d.services.jwks_file),
                int(env.get("AUTH_LEEWAY_SECONDS", d.services.leeway_seconds)),
                d.services.max_lifetime_seconds,
            ),
            service_key_file=env.get("SERVICE_KEY_FILE", d.service_key_file),
        )


def max_token_lifetime(env: Mapping[str, str]) -> int:
    """AUTH_MAX_TOKEN_LIFETIME_SECONDS: the longest a user token may be valid for (default 24 h)."""
    text = env.get("AUTH_MAX_TOKEN_LIFETIME_SECONDS", str(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS))
    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if seconds <= 0:
        raise ValueError(f"AUTH_MAX_TOKEN_LIFETIME_SECONDS must be a positive number of seconds, got {text!r}")
    return seconds


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who a call comes from: an end user, or one of our services (acting for a user or for nobody)."""

    user_id: str | None
    service: str | None = None

    def require_user(self) -> str:
        if self.user_id is None:
            raise Unauthenticated("this call needs an end-user token, not a service token alone")
        return self.user_id

    def require_service(self) -> str:
        # The identity interceptor already holds every INTERNAL RPC to this (recorder_common.policy).
        if self.service is None:
            raise PermissionDenied("this is an internal RPC: only our own services may call it")
        return self.service


class JwksFile:
    """The public keys of one issuer, read from a JWKS file and re-read when the file changes, so
    keys rotate without a restart."""

    RECHECK_SECONDS = 5.0

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._checked = 0.0
        self._reload()  # fail at start-up, not on the first call, when the file is missing or bad

    def _reload(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no JWKS at {self.path}: create development keys with `./dev token` "
                "or point the setting at your identity provider's JWKS"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        with open(self.path, encoding="utf-8") as f:
            document = json.load(f)
        keys: dict[str | None, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if entry.get("kty") not in ALLOWED_ALGORITHMS.values():
                continue  # an HMAC or other key type must never verify anything
            keys[entry.get("kid")] = jwt.PyJWK(entry)
        self._keys, self._stamp = keys, stamp

    def key(self, kid: str | None) -> jwt.PyJWK | None:
        now = time.monotonic()
        if now - self._checked > self.RECHECK_SECONDS:
            with self._lock:
                self._checked = now
                try:
                    self._reload()
                except (OSError, ValueError):
                    pass  # keep serving with the keys we have; a broken rotation must not lock everyone out
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)


class TokenVerifier:
    # A client sends the same token with every chunk; checking its signature once is enough. A
    # remembered token is still held to its exp/nbf on every use, and forgotten as soon as the
    # key that verified it leaves the JWKS (or is replaced) or after CACHE_SECONDS.
    CACHE_SIZE = 4096
    CACHE_SECONDS = 60.0

    def __init__(self, policy: TokenPolicy, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.keys = JwksFile(policy.jwks_file)
        self.clock = clock
        # token -> (claims, kid, the key object that verified it, when it was verified)
        self._verified: collections.OrderedDict[str, tuple[Claims, str | None, jwt.PyJWK, float]] = (
            collections.OrderedDict()
        )

    def verify(self, token: str) -> Claims:
        now = self.clock()
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, kid, key, verified_at = remembered
            if now - verified_at < self.CACHE_SECONDS and self.keys.key(kid) is key and self._in_time(claims, now):
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]  # verify again: fails with the precise reason, or renews
        kid, key, claims = self._verify_signed(token)
        self._verified[token] = (claims, kid, key, now)
        while len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    def _in_time(self, claims: Claims, now: float) -> bool:
        leeway = self.policy.leeway_seconds
        return bool(
            claims["exp"] > now - leeway
            and claims.get("nbf", now) <= now + leeway
            and claims.get("iat", now) <= now + leeway
        )

    def _verify_signed(self, token: str) -> tuple[str | None, jwt.PyJWK, Claims]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"token algorithm {alg!r} is not accepted; use RS256 or ES256")
        key = self.keys.key(header.get("kid"))
        if key is None:
            raise Unauthenticated(
                f"the token is signed with a key this service does not know (kid {header.get('kid')!r})"
            )
        if key.key_type != ALLOWED_ALGORITHMS[alg] or (key.algorithm_name and key.algorithm_name != alg):
            raise Unauthenticated(f"key {header.get('kid')!r} cannot verify {alg} tokens")
        try:
            # Times are checked below against this verifier's clock (the one the cache uses too).
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.policy.audience,
                issuer=self.policy.issuer,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired: get a new one") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated(f"the token's issuer is not {self.policy.issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the token's audience is not {self.policy.audience!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"the token is not valid: {exc}") from None
        self._check_times(claims)
        self._check_lifetime(claims)
        return header.get("kid"), key, claims

    def _check_times(self, claims: Claims) -> None:
        now, leeway = self.clock(), self.policy.leeway_seconds
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise Unauthenticated(f"the token's {name} must be a number")
        if claims["exp"] <= now - leeway:
            raise Unauthenticated("the token has expired: get a new one")
        if claims.get("nbf", now) > now + leeway or claims.get("iat", now) > now + leeway:
            raise Unauthenticated("the token is not valid yet (nbf/iat in the future)")

    def _check_lifetime(self, claims: Claims) -> None:
        """A token valid for years is as good as a password that never changes: refuse it."""
        longest = self.policy.max_lifetime_seconds
        exp, iat = claims["exp"], claims.get("iat")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise Unauthenticated("the token's exp must be a number")
        if iat is not None:
            if not isinstance(iat, (int, float)) or isinstance(iat, bool):
                raise Unauthenticated("the token's iat must be a number")
            if exp - iat > longest:
                raise Unauthenticated(
                    f"the token is valid for {int(exp - iat)} s (exp - iat); this service "
                    f"accepts at most {longest} s: get a shorter-lived token"
                )
        elif exp - self.clock() > longest + self.policy.leeway_seconds:
            raise Unauthenticated(
                f"the token has no iat and expires more than {longest} s from now; "
                "this service accepts at most that: get a shorter-lived token"
            )


class Authenticator:
    """Turns request metadata into a Caller, or raises Unauthenticated."""

    def __init__(self, settings: AuthSettings) -> None:
        self.users = TokenVerifier(settings.users)
        self.services = TokenVerifier(settings.services)

    def identify(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller:
        values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
        header = values.get(AUTHORIZATION_HEADER)
        if header is None:
            raise Unauthenticated("missing credentials: send `authorization: Bearer <token>`")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the authorization header must be `Bearer <token>`")
        token = token.strip()
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        # The unverified issuer only picks the verifier; the chosen one checks everything again.
        if issuer == self.services.policy.issuer:
            claims = self.services.verify(token)
            service = claims["sub"]
            if not is_valid_user_id(service):
                raise Unauthenticated("the service token's sub is not a valid service name")
            on_behalf_of = values.get(ON_BEHALF_OF_HEADER)
            if on_behalf_of is not None and not is_valid_user_id(on_behalf_of):
                raise Unauthenticated(f"{ON_BEHALF_OF_HEADER} must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
            return Caller(user_id=on_behalf_of, service=service)
        claims = self.users.verify(token)
        if not isinstance(claims["sub"], str) or not is_valid_user_id(claims["sub"]):
            raise Unauthenticated("the token's sub must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
        return Caller(user_id=claims["sub"])


class ServiceTokenSigner:
    """Signs this service's short-lived tokens for calls to our other services, reusing one until
    shortly before it expires."""

    def __init__(self, settings: AuthSettings, service: str, clock: Callable[[], float] = time.time) -> None:
        try:
            with open(settings.service_key_file, "rb") as f:
                pem = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no service signing key at {settings.service_key_file}: create development keys with "
                "`./dev token` or set SERVICE_KEY_FILE"
            ) from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise ValueError(f"{settings.service_key_file} holds neither an EC nor an RSA private key")
        self._key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = key
        self._alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
        self._kid = key_id(self._key.public_key())
        self.policy = settings.services
        self.service = service
        self.clock = clock
        self._token, self._renew_at = "", 0.0

    def token(self) -> str:
        now = self.clock()
        if now >= self._renew_at:
            claims = {
                "iss": self.policy.issuer,
                "aud": self.policy.audience,
                "sub": self.service,
                "iat": int(now),
                "exp": int(now) + SERVICE_TOKEN_SECONDS,
            }
            self._token = jwt.encode(claims, self._key, algorithm=self._alg, headers={"kid": self._kid})
            self._renew_at = now + SERVICE_TOKEN_SECONDS / 2
        return self._token


def key_id(public_key: Any) -> str:
    """A stable kid: the RFC 7638 thumbprint of the public key."""
    jwk = json.loads(
        (ECAlgorithm if isinstance(public_key, ec.EllipticCurvePublicKey) else RSAAlgorithm).to_jwk(public_key)
    )
    members = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
