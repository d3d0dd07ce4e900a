"""A development authorization server: OAuth 2.0 authorization code with PKCE (RFC 7636, S256),
so the extension signs in locally and in CI through the same code path a real identity provider
takes (chrome.identity.launchWebAuthFlow, then a token request).

  GET  /authorize?response_type=code&client_id=..&redirect_uri=..&state=..&code_challenge=..
       &code_challenge_method=S256
       -> 302 redirect_uri?code=..&state=..   (at once, for the configured development user)
  POST /token  (form: grant_type=authorization_code, code, code_verifier, redirect_uri, client_id)
       -> {"access_token": JWT, "token_type": "Bearer", "expires_in": N}

Served only by `./dev run` (devstack) and the tests, never in production. The rules are plain
functions on plain data (`AuthorizationCodes`); the HTTP layer is thin.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import http.server
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

from devauth.keys import DevKeys

# The pinned id of extension/ (derived from the public key in extension/manifest.json).
EXTENSION_ID = "baafeiakklliidfcgofccfkifabnjfdp"
CODE_LIFETIME_SECONDS = 60
# Client text is bounded before anything else looks at it.
_STATE = re.compile(r"[\x21-\x7e]{1,512}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, no padding
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1
_EXTENSION_ID = re.compile(r"[a-p]{32}")


class AuthorizationError(Exception):
    """An OAuth error: `error` is the RFC 6749 code, the message says what to fix."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def check_redirect_uri(redirect_uri: str, extension_id: str) -> None:
    """Only the pinned extension's chromiumapp.org address (what launchWebAuthFlow intercepts)."""
    parts = urllib.parse.urlsplit(redirect_uri)
    if (
        parts.scheme != "https"
        or parts.hostname != f"{extension_id}.chromiumapp.org"
        or parts.port is not None
        or parts.username is not None
        or parts.query
        or parts.fragment
        or len(redirect_uri) > 512
    ):
        raise AuthorizationError(
            "invalid_request", f"redirect_uri must be https://{extension_id}.chromiumapp.org/<path>"
        )


@dataclasses.dataclass(frozen=True)
class PendingCode:
    challenge: str
    client_id: str
    redirect_uri: str
    user: str
    expires_at: float


@dataclasses.dataclass
class AuthorizationCodes:
    """Issued codes: single use, short-lived, bound to the client, redirect and PKCE challenge."""

    extension_id: str = EXTENSION_ID
    user: str = "dev-user"
    lifetime_seconds: float = CODE_LIFETIME_SECONDS
    clock: Callable[[], float] = time.time
    pending: dict[str, PendingCode] = dataclasses.field(default_factory=dict)
    redeemed: int = 0  # codes exchanged for a token (tests check a sign-in went through here)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not _EXTENSION_ID.fullmatch(self.extension_id):
            raise ValueError(f"an extension id is 32 letters a-p, not {self.extension_id!r}")

    def authorize(self, params: dict[str, str]) -> str:
        """The redirect location for a valid request (raises AuthorizationError otherwise)."""
        if params.get("client_id") != self.extension_id:
            raise AuthorizationError("unauthorized_client", f"client_id must be {self.extension_id}")
        redirect_uri = params.get("redirect_uri", "")
        check_redirect_uri(redirect_uri, self.extension_id)
        if params.get("response_type") != "code":
            raise AuthorizationError("unsupported_response_type", "response_type must be code")
        if params.get("code_challenge_method") != "S256":
            raise AuthorizationError("invalid_request", "code_challenge_method must be S256 (no plain)")
        challenge, state = params.get("code_challenge", ""), params.get("state", "")
        if not _CHALLENGE.fullmatch(challenge):
            raise AuthorizationError("invalid_request", "code_challenge must be 43 base64url characters")
        if not _STATE.fullmatch(state):
            raise AuthorizationError("invalid_request", "state must be 1-512 printable ASCII characters")
        code = secrets.token_urlsafe(32)
        now = self.clock()
        with self.lock:
            # Forget expired codes so the table stays small.
            for stale in [c for c, p in self.pending.items() if p.expires_at <= now]:
                del self.pending[stale]
            self.pending[code] = PendingCode(
                challenge, self.extension_id, redirect_uri, self.user, now + self.lifetime_seconds
            )
        return f"{redirect_uri}?{urllib.parse.urlencode({'code': code, 'state': state})}"

    def redeem(self, form: dict[str, str]) -> str:
        """The user a valid code + verifier stands for; the code is gone afterwards, whatever happens."""
        if form.get("grant_type") != "authorization_code":
            raise AuthorizationError("unsupported_grant_type", "grant_type must be authorization_code")
        code, verifier = form.get("code", ""), form.get("code_verifier", "")
        with self.lock:
            pending = self.pending.pop(code, None)  # single use: a second try finds nothing
        if pending is None or pending.expires_at <= self.clock():
            raise AuthorizationError("invalid_grant", "unknown, used or expired code: sign in again")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(s256(verifier), pending.challenge):
            raise AuthorizationError("invalid_grant", "code_verifier does not match the code_challenge")
        if form.get("client_id") != pending.client_id or form.get("redirect_uri") != pending.redirect_uri:
            raise AuthorizationError("invalid_grant", "client_id and redirect_uri must be those of the authorization")
        with self.lock:
            self.redeemed += 1
        return pending.user


MAX_FORM_BYTES = 8192


def make_handler(codes: AuthorizationCodes, keys: DevKeys, token_ttl_seconds: int):
    origin = f"chrome-extension://{codes.extension_id}"

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "devauth"

        def log_message(self, *args) -> None:  # quiet: tests and ./dev run have their own output
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            # The extension reads the token response only if its own origin is allowed.
            if self.headers.get("Origin") == origin:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/authorize":
                return self._json(404, {"error": "not_found", "error_description": "GET /authorize or POST /token"})
            try:
                params = dict(urllib.parse.parse_qsl(url.query, max_num_fields=16, strict_parsing=False))
                location = codes.authorize(params)
            except AuthorizationError as exc:
                # Never redirect to an unchecked redirect_uri: errors are answered here.
                return self._json(400, {"error": exc.error, "error_description": exc.message})
            except ValueError:
                return self._json(400, {"error": "invalid_request", "error_description": "malformed query"})
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            if urllib.parse.urlsplit(self.path).path != "/token":
                return self._json(404, {"error": "not_found", "error_description": "POST /token"})
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_FORM_BYTES:
                return self._json(
                    400, {"error": "invalid_request", "error_description": f"a form of at most {MAX_FORM_BYTES} bytes"}
                )
            try:
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode("utf-8"), max_num_fields=16))
                user = codes.redeem(form)
            except AuthorizationError as exc:
                return self._json(400, {"error": exc.error, "error_description": exc.message})
            except (UnicodeDecodeError, ValueError):
                return self._json(400, {"error": "invalid_request", "error_description": "malformed form"})
            self._json(
                200,
                {
                    "access_token": keys.mint(user, token_ttl_seconds),
                    "token_type": "Bearer",
                    "expires_in": token_ttl_seconds,
                },
            )

    return Handler


class AuthorizationServer:
    """The endpoint on a loopback port, in a background thread (port 0 picks a free one)."""

    def __init__(
        self,
        keys: DevKeys,
        user: str = "dev-user",
        port: int = 0,
        host: str = "127.0.0.1",
        extension_id: str = EXTENSION_ID,
        token_ttl_seconds: int = 3600,
    ) -> None:
        self.codes = AuthorizationCodes(extension_id=extension_id, user=user)
        self.httpd = http.server.ThreadingHTTPServer((host, port), make_handler(self.codes, keys, token_ttl_seconds))
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "AuthorizationServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
