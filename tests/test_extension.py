"""The Chrome extension (extension/) in headless Debian Chromium against the real stack: the
services as processes, Envoy in front, the development authorization endpoint for sign-in.
Nothing is mocked: tabCapture records a real tab showing an animated page, the offscreen
document uploads through Envoy, and the stored source is compared byte for byte with the blobs
MediaRecorder produced, as the extension reports them (size and SHA-256 of each).

One stack for the module; each browser test has its own profile. The browser is driven by
extension/scripts/drive.mjs (playwright-core), one JSON command per line."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import grpc
import pytest

from devauth.authorize import EXTENSION_ID, AuthorizationCodes, AuthorizationError, AuthorizationServer, s256
from gateway.render import render
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2
from tests import grpc_web
from tests.browser import require_browser
from tests.conftest import ENVOY
from tests.helpers import TEST_KEYS, bearer, token
from tests.process_stack import ProcessStack, free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
EXTENSION = ROOT / "extension"
ARTIFACTS = ROOT / ".ci" / "artifacts"
# The browser binary itself: Debian's /usr/bin/chromium wrapper adds flags of its own.
CHROMIUM_BINARY = os.environ.get("CHROMIUM_BINARY", "/usr/lib/chromium/chromium")
USER = "ext-user"
ORIGIN = f"chrome-extension://{EXTENSION_ID}"

ANIMATED_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>animated</title></head>
<body style="margin:0"><canvas id="c" width="800" height="450"></canvas><script>
const c = document.getElementById("c"), g = c.getContext("2d"), t0 = performance.now();
(function draw() {
  const t = (performance.now() - t0) / 1000;
  g.fillStyle = `hsl(${(t * 60) % 360}, 60%, 80%)`; g.fillRect(0, 0, 800, 450);
  g.fillStyle = "#123"; g.fillRect(40 + (t * 150) % 680, 180, 80, 80);
  g.font = "40px sans-serif"; g.fillText(`t = ${t.toFixed(2)} s`, 20, 60);
  requestAnimationFrame(draw);
})();
</script></body></html>"""


# --- the authorization endpoint's rules, on plain data (no browser) --------------------------------

REDIRECT = f"https://{EXTENSION_ID}.chromiumapp.org/oauth2"
VERIFIER = "v" * 50


def authorize_params(**override) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": EXTENSION_ID,
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
        **override,
    }


def code_from(location: str) -> str:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert query["state"] == "s1"
    return query["code"]


def token_form(code: str, **override) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": VERIFIER,
        "redirect_uri": REDIRECT,
        "client_id": EXTENSION_ID,
        **override,
    }


def test_a_code_is_redeemed_once_with_the_matching_verifier():
    codes = AuthorizationCodes(user="alice")
    location = codes.authorize(authorize_params())
    assert location.startswith(REDIRECT + "?")
    code = code_from(location)
    assert codes.redeem(token_form(code)) == "alice"
    with pytest.raises(AuthorizationError, match="unknown, used or expired"):
        codes.redeem(token_form(code))  # single use


@pytest.mark.parametrize(
    "change, message",
    [
        ({"client_id": "b" * 32}, "client_id must be"),
        ({"redirect_uri": "https://evil.example/oauth2"}, "redirect_uri must be"),
        ({"redirect_uri": f"https://{EXTENSION_ID}.chromiumapp.org.evil.example/"}, "redirect_uri must be"),
        ({"redirect_uri": f"http://{EXTENSION_ID}.chromiumapp.org/"}, "redirect_uri must be"),
        ({"redirect_uri": f"https://{EXTENSION_ID}.chromiumapp.org:444/"}, "redirect_uri must be"),
        ({"redirect_uri": f"https://{EXTENSION_ID}.chromiumapp.org/?next=x"}, "redirect_uri must be"),
        ({"response_type": "token"}, "response_type must be code"),
        ({"code_challenge_method": "plain"}, "must be S256"),
        ({"code_challenge": "short"}, "43 base64url"),
        ({"state": ""}, "state must be"),
        ({"state": "a\nb"}, "state must be"),
    ],
)
def test_bad_authorization_requests_are_refused_with_the_reason(change, message):
    with pytest.raises(AuthorizationError, match=message):
        AuthorizationCodes().authorize(authorize_params(**change))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"code_verifier": "w" * 50}, "does not match"),
        ({"code_verifier": "v" * 20}, "does not match"),  # too short for RFC 7636
        ({"redirect_uri": f"https://{EXTENSION_ID}.chromiumapp.org/other"}, "must be those of the authorization"),
        ({"grant_type": "password"}, "grant_type must be"),
    ],
)
def test_a_wrong_exchange_is_refused_and_burns_the_code(change, message):
    codes = AuthorizationCodes()
    code = code_from(codes.authorize(authorize_params()))
    with pytest.raises(AuthorizationError, match=message):
        codes.redeem(token_form(code, **change))
    if "grant_type" not in change:  # the code was taken: the right verifier no longer helps
        with pytest.raises(AuthorizationError, match="unknown, used or expired"):
            codes.redeem(token_form(code))


def test_a_code_expires():
    now = [1000.0]
    codes = AuthorizationCodes(lifetime_seconds=60, clock=lambda: now[0])
    code = code_from(codes.authorize(authorize_params()))
    now[0] += 61
    with pytest.raises(AuthorizationError, match="expired"):
        codes.redeem(token_form(code))


def test_the_endpoint_over_http_mints_a_user_token_and_allows_only_the_extension_origin():
    server = AuthorizationServer(TEST_KEYS, user="alice").start()
    try:
        query = urllib.parse.urlencode(authorize_params())
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{server.url}/authorize?{query}", timeout=10)
        assert redirect.value.code == 302
        code = code_from(redirect.value.headers["Location"])
        body = urllib.parse.urlencode(token_form(code)).encode()
        request = urllib.request.Request(f"{server.url}/token", body, headers={"Origin": ORIGIN})
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
            assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
        import jwt

        claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
        assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 3600
        # Another extension's page cannot read the answer (no CORS grant), and a bad request
        # gets a 400 with the reason, never a redirect to an unchecked address.
        code = code_from(opener_location(opener, f"{server.url}/authorize?{query}"))
        other = urllib.request.Request(
            f"{server.url}/token",
            urllib.parse.urlencode(token_form(code)).encode(),
            headers={"Origin": "chrome-extension://" + "b" * 32},
        )
        with urllib.request.urlopen(other, timeout=10) as response:
            assert "Access-Control-Allow-Origin" not in response.headers
        bad = urllib.parse.urlencode(authorize_params(redirect_uri="https://evil.example/"))
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"{server.url}/authorize?{bad}", timeout=10)
        assert refused.value.code == 400 and "Location" not in refused.value.headers
        assert "redirect_uri must be" in json.loads(refused.value.read())["error_description"]
    finally:
        server.stop()


def test_devauth_serve_runs_the_endpoint_for_the_given_user(tmp_path):
    import sys

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devauth",
            "--dir",
            str(tmp_path / "auth"),
            "serve",
            "--port",
            str(port),
            "--user",
            "bob",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert f"http://127.0.0.1:{port}" in server.stdout.readline()
        opener = urllib.request.build_opener(NoRedirect)
        code = code_from(
            opener_location(opener, f"http://127.0.0.1:{port}/authorize?{urllib.parse.urlencode(authorize_params())}")
        )
        body = urllib.parse.urlencode(token_form(code)).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/token", body, timeout=10) as response:
            import jwt

            assert (
                jwt.decode(json.loads(response.read())["access_token"], options={"verify_signature": False})["sub"]
                == "bob"
            )
    finally:
        server.terminate()
        server.wait(10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def opener_location(opener, url: str) -> str:
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as exc:
        return exc.headers["Location"]
    raise AssertionError("expected a redirect")


def test_manifest_key_pins_the_extension_id_and_the_gateway_allows_it_by_default():
    import base64

    manifest = json.loads((EXTENSION / "manifest.json").read_text())
    digest = hashlib.sha256(base64.b64decode(manifest["key"])).hexdigest()[:32]
    assert "".join(chr(ord("a") + int(c, 16)) for c in digest) == EXTENSION_ID
    assert f'exact: "{ORIGIN}"' in render({})
    # No host permission for the backend: every call is a CORS request, which Envoy's CORS policy answers.
    assert "host_permissions" not in manifest


# --- the stack and the browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def extension_build():
    require_browser(CHROMIUM_BINARY)
    if (
        not (WEB / "node_modules" / ".bin" / "esbuild").exists()
        or not (WEB / "node_modules" / "@types" / "chrome").exists()
    ):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
    subprocess.run(["npm", "run", "build:extension"], cwd=WEB, check=True, timeout=120, capture_output=True)
    return EXTENSION / "dist"


def test_extension_type_checks(extension_build):
    result = subprocess.run(
        ["npm", "run", "--silent", "typecheck:extension"], cwd=WEB, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_extension_unit_tests_of_the_uploader_rules(extension_build, tmp_path):
    bundle = tmp_path / "uploader.test.mjs"
    subprocess.run(
        [
            str(WEB / "node_modules" / ".bin" / "esbuild"),
            str(EXTENSION / "test" / "uploader.test.ts"),
            "--bundle",
            "--platform=node",
            "--format=esm",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        cwd=WEB,
        check=True,
        timeout=120,
    )
    result = subprocess.run(["node", "--test", str(bundle)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 7" in result.stdout


class Gateway:
    """Envoy in front of the stack, on one port, stopped and started again by the outage test."""

    def __init__(self, stack: ProcessStack, folder: pathlib.Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            **TEST_KEYS.env(),
            "GATEWAY_PORT": str(self.port),
            "INGEST_PORT": str(stack.ports["ingest"]),
            "MEDIA_PORT": str(stack.ports["media"]),
            "CATALOG_PORT": str(stack.ports["catalog"]),
        }
        env.pop("EXTENSION_ORIGIN", None)  # the default must be the pinned extension's origin
        self.config = folder / "envoy.yaml"
        self.config.write_text(render(env))
        self.log = folder / "envoy.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [ENVOY, "-c", str(self.config), "--log-level", "warn", "--base-id", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: _listening(self.port), 30, "Envoy listening")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(20)
            self.process = None
        wait_for(lambda: not _listening(self.port), 30, "Envoy stopped")


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.25)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extension-stack")
    stack = ProcessStack(f"sqlite:///{folder / 'catalog.sqlite3'}", folder)
    stack.start_all()
    gateway = Gateway(stack, folder)
    gateway.start()
    authorization = AuthorizationServer(TEST_KEYS, user=USER).start()
    page_dir = folder / "page"
    page_dir.mkdir()
    (page_dir / "animated.html").write_text(ANIMATED_PAGE)
    handler = lambda *a, **k: QuietHandler(*a, directory=str(page_dir), **k)  # noqa: E731
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    yield {
        "stack": stack,
        "gateway": gateway,
        "authorization": authorization,
        "page": f"http://127.0.0.1:{pages.server_address[1]}/animated.html",
        "folder": folder,
    }
    pages.shutdown()
    authorization.stop()
    gateway.stop()
    stack.stop_all()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Browser:
    """One Chromium (one profile) with the extension, through extension/scripts/drive.mjs."""

    def __init__(self, extension: pathlib.Path, profile: pathlib.Path) -> None:
        self.extension, self.profile = extension, profile
        self.process = subprocess.Popen(
            ["node", str(EXTENSION / "scripts" / "drive.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env={**os.environ, "CHROMIUM_BINARY": CHROMIUM_BINARY},
        )

    def __call__(self, command: str, **args):
        self.process.stdin.write(json.dumps({"command": command, **args}) + "\n")
        line = self.process.stdout.readline()
        assert line, f"the browser driver exited ({self.process.poll()})"
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"{command}: {answer['error']}")
        return answer["ok"]

    def launch(self, backend, args: list[str] | None = None, issuer: str | None = None) -> None:
        self("launch", profile=str(self.profile), extension=str(self.extension), id=EXTENSION_ID, args=args or [])
        self(
            "workerEval",
            id=EXTENSION_ID,
            expression=("await chrome.storage.local.set({backendUrl: arg.backendUrl, issuer: arg.issuer});"),
            arg={
                "backendUrl": f"http://127.0.0.1:{backend['gateway'].port}",
                "issuer": issuer or backend["authorization"].url,
            },
        )
        # The popup, opened as a tab: it is the control page (runtime messages wake the worker).
        self("open", name="popup", url=f"chrome-extension://{EXTENSION_ID}/popup.html", width=380, height=640)
        # Opened last, so it has the highest tab id (the extension has no "tabs" permission to
        # look tabs up by address).
        self("open", name="page", url=backend["page"])

    def popup(self, expression: str, arg=None):
        return self("evaluate", name="popup", expression=expression, arg=arg)

    def status(self) -> dict:
        return self.popup('return await chrome.runtime.sendMessage({target: "offscreen", type: "status"});')

    def wait(self, expression: str, arg=None, timeout: int = 120_000):
        return self("wait", name="popup", expression=expression, arg=arg, timeout=timeout)

    def record_tab(self, page_url: str, title: str, mode: str = "tab", microphone: bool = False) -> dict:
        reply = self.popup(
            "const tabId = Math.max(...(await chrome.tabs.query({})).map((t) => t.id));"
            "return await chrome.runtime.sendMessage({type: 'record', mode: arg.mode, tabId, title: arg.title,"
            " microphone: arg.microphone});",
            {"url": page_url, "title": title, "mode": mode, "microphone": microphone},
        )
        assert reply and "error" not in reply, reply
        return reply

    def wait_recorded(self, count: int) -> dict:
        return self.wait(
            "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
            "return s && s.uploads && s.uploads[0] && s.uploads[0].recorded >= arg && s;",
            count,
        )

    def stop_recording(self) -> None:
        self.popup("return await chrome.runtime.sendMessage({target: 'offscreen', type: 'stop'});")

    def wait_uploaded(self, video_id: str, timeout: int = 120_000) -> dict:
        return self.wait(
            "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
            "const u = s && s.uploads && s.uploads.find((u) => u.videoId === arg);"
            "if (u && u.error) return {error: u.error};"
            "return u && u.done && u;",
            video_id,
            timeout,
        )

    def close(self) -> None:
        try:
            self("close")
        finally:
            self.process.stdin.close()
            self.process.wait(30)


@pytest.fixture
def browser(extension_build, tmp_path):
    opened: list[Browser] = []

    def open_browser(profile: pathlib.Path | None = None) -> Browser:
        b = Browser(extension_build, profile or tmp_path / "profile")
        opened.append(b)
        return b

    yield open_browser
    for b in opened:
        if b.process.poll() is None:
            try:
                b.close()
            except Exception:
                b.process.kill()


def catalog_stub(backend) -> catalog_pb2_grpc.CatalogServiceStub:
    channel = grpc.insecure_channel(backend["stack"].target("catalog"))
    return catalog_pb2_grpc.CatalogServiceStub(channel)


def wait_final(backend, video_id: str, timeout: float = 180) -> common_pb2.Video:
    stub = catalog_stub(backend)

    def final():
        video = stub.GetVideo(
            catalog_pb2.GetVideoRequest(video_id=video_id), metadata=bearer(token(USER)), timeout=10
        ).video
        return video if video.status in (common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED) else None

    return wait_for(final, timeout, f"video {video_id} READY or FAILED")


def assert_source_is_what_was_recorded(backend, video: common_pb2.Video, upload: dict) -> None:
    """The stored source is exactly the blobs MediaRecorder produced, in order."""
    assert video.status == common_pb2.VIDEO_STATUS_READY, (video.error, video.error_step)
    source = [a for a in video.assets if a.kind == common_pb2.ASSET_KIND_SOURCE][0]
    data = (backend["stack"].storage_root / source.path).read_bytes()
    chunks = upload["chunks"]
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert len(data) == sum(c["size"] for c in chunks)
    offset = 0
    for c in chunks:
        assert hashlib.sha256(data[offset : offset + c["size"]]).hexdigest() == c["sha256"], f"chunk {c['index']}"
        offset += c["size"]
    assert video.media.video_codec in ("vp9", "vp8") and video.media.audio_codec == "opus"


# A gRPC-Web ListVideos call with fetch itself, from an extension page.
RAW_LIST_VIDEOS = (
    "try {"
    "  const r = await fetch(arg.url, {method: 'POST', body: new Uint8Array(5), headers: {"
    "    'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', authorization: `Bearer ${arg.token}`}});"
    "  return `answered ${r.status}`;"
    "} catch (err) { return `refused: ${err.message}`; }"
)


def sign_in(b: Browser) -> None:
    reply = b.popup("return await chrome.runtime.sendMessage({type: 'sign-in'});")
    assert reply == {"signedIn": True}, reply


def test_a_live_tab_recording_signs_in_uploads_through_envoy_and_is_byte_identical(backend, browser):
    b = browser()
    b.launch(backend)
    redeemed = backend["authorization"].codes.redeemed
    assert "not signed in" in b("text", name="popup", selector="#account")
    sign_in(b)
    b.wait(
        "return document.getElementById('account').textContent === '· signed in'"
        " && document.getElementById('signin-row').hidden;"
    )
    assert backend["authorization"].codes.redeemed == redeemed + 1  # through the development endpoint
    started = b.record_tab(backend["page"], "a live tab")
    assert started["mimeType"] == "video/webm;codecs=vp9,opus"
    during = b.wait_recorded(5)
    # Uploaded live: chunks are acknowledged while the recording goes on.
    live = b.wait(
        "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
        "return s.recording && s.uploads[0].acknowledged >= 3 && s;"
    )
    assert live["recording"]["videoId"] == started["videoId"] and during["recording"] is not None
    # The badge shows the recording's time.
    badge = b("workerEval", id=EXTENSION_ID, expression="return await chrome.action.getBadgeText({});")
    assert badge == "REC" or re.fullmatch(r"\d+:\d\d", badge), badge
    b.wait_recorded(10)
    b.stop_recording()
    upload = b.wait_uploaded(started["videoId"])
    assert "error" not in upload, upload
    b.wait("return (await chrome.action.getBadgeText({})) === '';")  # cleared when recording ended
    assert upload["recorded"] >= 10 and upload["acknowledged"] == upload["recorded"]
    video = wait_final(backend, started["videoId"])
    assert_source_is_what_was_recorded(backend, video, upload)
    assert video.media.duration_seconds > 8
    # IndexedDB kept nothing once everything was acknowledged.
    left = b(
        "evaluate",
        name="popup",
        expression=(
            "const db = await new Promise((ok, no) => { const r = indexedDB.open('recorder'); r.onsuccess = () => ok(r.result); r.onerror = no; });"  # noqa: E501
            "return await new Promise((ok) => { const r = db.transaction('blobs').objectStore('blobs').count(); r.onsuccess = () => ok(r.result); });"  # noqa: E501
        ),
    )
    assert left == 0
    # The popup follows the video to READY with its thumbnail, and lists it.
    b.wait(
        "const img = document.querySelector('#current img'); return document.querySelector('#current .ok')"
        " && img && img.complete && img.naturalWidth > 0;"
    )
    b.wait(
        "return [...document.querySelectorAll('#recent li')].some((li) => li.dataset.videoId === arg"
        " && li.querySelector('img') && li.textContent.includes('READY'));",
        started["videoId"],
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    b("screenshot", name="popup", path=str(ARTIFACTS / "extension-popup.png"))
    # Delete from the list: the video goes from the list and from the catalog.
    b.popup("document.querySelector(`#recent li[data-video-id='${arg}'] button.delete`).click();", started["videoId"])
    b.wait(
        "return ![...document.querySelectorAll('#recent li')].some((li) => li.dataset.videoId === arg);",
        started["videoId"],
    )
    with pytest.raises(grpc.RpcError) as gone:
        catalog_stub(backend).GetVideo(
            catalog_pb2.GetVideoRequest(video_id=started["videoId"]), metadata=bearer(token(USER)), timeout=10
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    # The pinned id's own call passes the gateway's CORS (the copy under another id is refused).
    url = f"http://127.0.0.1:{backend['gateway'].port}/recorder.v1.CatalogService/ListVideos"
    assert b.popup(RAW_LIST_VIDEOS, {"url": url, "token": token(USER)}) == "answered 200"


def test_an_envoy_outage_and_an_ingest_restart_mid_recording_lose_nothing_and_the_popup_shows_them(backend, browser):
    b = browser()
    b.launch(backend)
    sign_in(b)
    started = b.record_tab(backend["page"], "through an outage")
    b.wait_recorded(3)
    backend["gateway"].stop()
    try:
        # The popup says the connection is lost while chunks wait in IndexedDB.
        b.wait("return document.getElementById('upload').textContent.includes('Connection lost');")
        outage_started = time.monotonic()
        wait_for(lambda: time.monotonic() - outage_started >= 5, 10, "a 5 s outage")
        during = b.status()["uploads"][0]
        assert during["connection"] == "retrying" and during["recorded"] > during["acknowledged"]
        # A popup opened now says the backend is unreachable, with what to check.
        b.popup("location.reload();")
        b.wait("return document.getElementById('error').textContent.includes('is unreachable: check your network');")
    finally:
        backend["gateway"].start()
    b.wait("return document.getElementById('upload').textContent.includes('Back online after 1 outage');")
    recorded = b.wait_recorded(during["recorded"] + 2)["uploads"][0]["recorded"]
    assert recorded > during["recorded"]
    # Then the ingest service dies (kill -9) behind a running Envoy, and comes back.
    stack = backend["stack"]
    stack.kill9("ingest")
    try:
        b.wait(
            "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
            "return s.uploads[0].connection === 'retrying' && s.uploads[0].outages === 2;"
        )
    finally:
        stack.start("ingest")
    b.wait("return document.getElementById('upload').textContent.includes('Back online after 2 outages');")
    b.wait_recorded(recorded + 2)
    b.stop_recording()
    upload = b.wait_uploaded(started["videoId"])
    assert "error" not in upload, upload
    assert upload["outages"] == 2 and upload["recovered"]
    assert_source_is_what_was_recorded(backend, wait_final(backend, started["videoId"]), upload)


def test_a_stopped_service_worker_does_not_stop_a_screen_recording_with_microphone(backend, browser, request):
    # getDisplayMedia in the offscreen document (Chrome picks the animated tab, as a user would
    # in the picker), with a (fake) microphone mixed in through WebAudio; paused and resumed.
    # Its sign-in server gives 65 s tokens, which the extension renews a minute before expiry:
    # every few seconds, so the woken worker must reload and renew the sign-in mid-recording.
    short_lived = AuthorizationServer(TEST_KEYS, user=USER, token_ttl_seconds=65).start()
    request.addfinalizer(short_lived.stop)
    b = browser()
    b.launch(
        backend,
        [
            "--auto-select-tab-capture-source-by-title=animated",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
        issuer=short_lived.url,
    )
    sign_in(b)
    started = b.record_tab(backend["page"], "worker stopped", mode="display", microphone=True)
    b.wait_recorded(2)
    b.popup("return await chrome.runtime.sendMessage({target: 'offscreen', type: 'pause'});")
    paused = b.wait(
        "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
        "return s.recording.paused && s;"
    )
    b.wait("return document.getElementById('pause').textContent === 'Resume';")
    b.popup("return await chrome.runtime.sendMessage({target: 'offscreen', type: 'resume'});")
    b.wait(
        "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
        "return !s.recording.paused && s.recording.elapsedMs > arg;",
        paused["recording"]["elapsedMs"],
    )
    before = b.wait_recorded(3)["uploads"][0]
    b("workerEval", id=EXTENSION_ID, expression="globalThis.beforeTheStop = true; return 1;")
    b("stopWorker", name="popup")
    # The offscreen document goes on: more blobs are recorded and acknowledged, and the worker is
    # woken by the offscreen document's next message (the badge tick, a token request).
    after = b.wait_recorded(before["recorded"] + 4)["uploads"][0]
    assert after["acknowledged"] > before["acknowledged"]
    # A worker runs again, and it is a new one: the old one (and its globals) really ended.
    assert b("workerEval", id=EXTENSION_ID, expression="return globalThis.beforeTheStop ?? 'fresh';") == "fresh"
    b.stop_recording()
    upload = b.wait_uploaded(started["videoId"])
    assert "error" not in upload, upload
    assert_source_is_what_was_recorded(backend, wait_final(backend, started["videoId"]), upload)
    assert short_lived.codes.redeemed >= 2  # signed in again when the token was about to expire


def test_a_closed_browser_finishes_the_upload_from_indexeddb_when_reopened(backend, browser, tmp_path):
    profile = tmp_path / "kept-profile"
    b = browser(profile)
    b.launch(backend)
    sign_in(b)
    started = b.record_tab(backend["page"], "browser closed")
    b.wait_recorded(3)
    backend["gateway"].stop()  # nothing more is acknowledged from here on
    try:
        b.wait_recorded(6)
        b.stop_recording()
        left = b.wait(
            "const s = await chrome.runtime.sendMessage({target: 'offscreen', type: 'status'});"
            "const u = s.uploads[0]; return u.stopped && u.recorded > u.acknowledged && u;"
        )
        b.close()
    finally:
        backend["gateway"].start()
    stored = (
        catalog_stub(backend)
        .GetVideo(catalog_pb2.GetVideoRequest(video_id=started["videoId"]), metadata=bearer(token(USER)), timeout=10)
        .video
    )
    assert stored.status == common_pb2.VIDEO_STATUS_UPLOADING and stored.received_chunks < left["recorded"]
    # The same profile again: the worker starts, finds the unfinished upload in IndexedDB, signs in
    # again (the session's token went with the browser) and the offscreen document sends the rest.
    redeemed = backend["authorization"].codes.redeemed
    again = browser(profile)
    again.launch(backend)
    upload = again.wait_uploaded(started["videoId"])
    assert backend["authorization"].codes.redeemed == redeemed + 1  # signed in again, silently
    assert "error" not in upload, upload
    assert upload["recorded"] == left["recorded"]
    assert_source_is_what_was_recorded(backend, wait_final(backend, started["videoId"]), upload)


def test_the_gateway_cors_refuses_another_extension_id(backend):
    port = backend["gateway"].port
    status, headers = grpc_web.preflight(port, "/recorder.v1.IngestService/PutChunk", ORIGIN)
    assert status == 200 and headers.get("access-control-allow-origin") == ORIGIN
    other = "chrome-extension://" + "b" * 32
    status, headers = grpc_web.preflight(port, "/recorder.v1.IngestService/PutChunk", other)
    assert "access-control-allow-origin" not in headers


def test_a_copy_of_the_extension_under_another_id_is_refused_by_the_gateway_cors(backend, extension_build, tmp_path):
    # The same extension without its key gets another id; Chrome sends its calls with that origin
    # and, as the manifest asks no host permission, enforces the gateway's CORS answer.
    copy = tmp_path / "other-extension"
    shutil.copytree(extension_build, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["key"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    b = Browser(copy, tmp_path / "other-profile")
    try:
        other = b("launch", profile=str(b.profile), extension=str(copy), id=None)["id"]
        assert other != EXTENSION_ID
        b("open", name="popup", url=f"chrome-extension://{other}/popup.html")
        url = f"http://127.0.0.1:{backend['gateway'].port}/recorder.v1.CatalogService/ListVideos"
        assert b.popup(RAW_LIST_VIDEOS, {"url": url, "token": token(USER)}).startswith("refused")
    finally:
        b.close()
