"""Uploads that are not what a recording should be, through the public API and real services:
playlists and manifests pointing at another user's files, at files outside storage and at a
local port; other containers; metadata that imitates ffmpeg's listing; attachments; a huge frame.

Every one ends refused or FAILED (mostly at PROBE, before any ffmpeg run), no output holds a
frame that was not in the upload, no error text tells anything about another user, and ffmpeg
never opens another user's file or connects anywhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time

import pytest

from recorder.v1 import common_pb2
from tests import media_tools
from tests.helpers import (
    asset,
    upload_and_wait,
    upload_expecting_ready,
    upload_unary,
    user,
    wait_chunks_removed,
    wait_final,
)

pytestmark = pytest.mark.one_database  # ffmpeg and files: the catalog's database plays no part

ALICE, BOB = user("alice"), user("bob")
K = common_pb2
both_backends = pytest.mark.both_backends

DECLARED = ["video/webm", "video/mp4", "video/x-matroska", "application/octet-stream"]


class Listener:
    """A TCP port on loopback that counts the connections it gets (none may arrive)."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> "Listener":
        async def accept(reader, writer):
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


def playlist(kind: str, target: str) -> bytes:
    """A text file ffmpeg would read as a playlist (if it guessed the format) whose one entry is
    target."""
    if kind == "hls":
        return (
            f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXTINF:3.0,\n{target}\n#EXT-X-ENDLIST\n"
        ).encode()
    if kind == "dash":
        return (
            f'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            f'mediaPresentationDuration="PT3S" minBufferTime="PT1S" '
            f'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period><AdaptationSet mimeType="video/mp4">'
            f'<Representation id="1" bandwidth="1000" codecs="avc1.64000d" width="640" height="360">'
            f"<BaseURL>{target}</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
        ).encode()
    assert kind == "ffconcat"
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


def assert_reveals_nothing(text: str, stack, victim) -> None:
    for secret in ("bob", victim.video_id, str(stack.storage_root), "/tmp", "/users/", "http://"):
        assert secret not in text, f"{secret!r} in {text!r}"
    assert not re.search(r"0x[0-9a-f]{5,}", text), text


async def victim_video(stack, tmp_path):
    """bob's READY recording, compressed to MP4 (what an attacker's playlist points at)."""
    clip = media_tools.make_fragmented_mp4(tmp_path / "bob.mp4", 2.0, size="320x240")
    return await upload_expecting_ready(stack, clip.read_bytes(), BOB, content_type="video/mp4")


def key_of(video, kind: int) -> str:
    return next(a.path for a in video.assets if a.kind == kind)


@both_backends
async def test_playlists_pointing_anywhere_are_refused_at_probe(stack, tmp_path):
    victim = await victim_video(stack, tmp_path)
    compressed_key = key_of(victim, K.ASSET_KIND_COMPRESSED)
    victim_frames = set(media_tools.frame_hashes(asset(stack, victim, K.ASSET_KIND_COMPRESSED)))
    outside = media_tools.make_fragmented_mp4(tmp_path / "outside.mp4", 1.0, size="320x240")
    async with Listener() as listener:
        targets = {
            # From alice's folder users/alice/videos/<id>/ to bob's compressed file.
            "victim-relative": "../../../" + compressed_key.split("users/", 1)[1],
            "victim-absolute": str(stack.file(compressed_key)),
            "outside-storage": str(outside),
            "loopback-port": f"http://127.0.0.1:{listener.port}/segment.mp4",
        }
        cases = [
            (kind, target, declared)
            for kind in ("hls", "dash", "ffconcat")
            for target in targets
            for declared in DECLARED
        ]
        uploads = {}
        for kind, target, declared in cases:
            uploads[(kind, target, declared)] = await upload_unary(
                stack, playlist(kind, targets[target]), ALICE, content_type=declared
            )
        for case, video_id in uploads.items():
            video = await wait_final(stack, video_id, ALICE)
            assert video.status == K.VIDEO_STATUS_FAILED, (case, video.error)
            assert video.error_step == K.PROCESSING_STEP_PROBE, (case, video.error)
            assert "not a readable recording" in video.error, (case, video.error)
            assert_reveals_nothing(video.error, stack, victim)
            kinds = {a.kind for a in video.assets}
            assert kinds <= {K.ASSET_KIND_SOURCE}, (case, kinds)  # no output of any kind
            for key in stack.keys(f"users/alice/videos/{video_id}/"):
                if not key.endswith(("/source.bin", "/source.webm", "/source.mp4")) and "/chunks/" not in key:
                    pytest.fail(f"{case}: output {key} was written")
        assert listener.connections == 0
    # bob's frames are his alone: nothing of alice's holds them (nothing of alice's was made at all).
    assert victim_frames


@both_backends
@pytest.mark.parametrize("declared", ["application/octet-stream", "video/x-matroska"])
async def test_an_avi_is_refused_at_probe_whatever_it_is_declared(stack, tmp_path, declared):
    avi = tmp_path / "clip.avi"
    media_tools.ffmpeg(
        *media_tools.lavfi("testsrc2=size=160x120:rate=10"),
        "-t",
        "1",
        "-c:v",
        "mjpeg",
        "-f",
        "avi",
        str(avi),
        timeout=60,
    )
    video = await upload_and_wait(stack, avi.read_bytes(), ALICE, content_type=declared)
    assert video.status == K.VIDEO_STATUS_FAILED and video.error_step == K.PROCESSING_STEP_PROBE
    assert "not a readable recording" in video.error


@both_backends
async def test_declared_type_must_match_the_sniffed_family(stack, tmp_path):
    clip = media_tools.make_clip(tmp_path / "own.webm", 1.0)
    video = await upload_and_wait(stack, clip.read_bytes(), ALICE, content_type="video/mp4")
    assert video.status == K.VIDEO_STATUS_FAILED and video.error_step == K.PROCESSING_STEP_PROBE
    assert "declared video/mp4" in video.error and "WebM" in video.error


@both_backends
async def test_a_matroska_attachment_holding_a_playlist_is_never_followed(stack, tmp_path):
    """A real recording (its own frames) with an attached m3u8 that points at bob's file, plus an
    attached binary blob. Whatever the outcome, no output holds a frame of bob's."""
    victim = await victim_video(stack, tmp_path)
    compressed_key = key_of(victim, K.ASSET_KIND_COMPRESSED)
    attached = tmp_path / "list.m3u8"
    attached.write_bytes(playlist("hls", "../../../" + compressed_key.split("users/", 1)[1]))
    blob = tmp_path / "font.ttf"
    blob.write_bytes(os.urandom(4096))
    clip = media_tools.make_clip(
        tmp_path / "attached.mkv",
        2.0,
        extra=(
            "-attach",
            str(attached),
            "-metadata:s:t:0",
            "mimetype=application/vnd.apple.mpegurl",
            "-attach",
            str(blob),
            "-metadata:s:t:1",
            "mimetype=font/ttf",
        ),
        muxer="matroska",
    )
    video = await upload_and_wait(stack, clip.read_bytes(), ALICE, content_type="application/octet-stream")
    assert_reveals_nothing(video.error, stack, victim)
    if video.status == K.VIDEO_STATUS_READY:
        victim_frames = set(media_tools.frame_hashes(asset(stack, victim, K.ASSET_KIND_COMPRESSED)))
        own = media_tools.frame_hashes(clip)
        for kind in (K.ASSET_KIND_ORIGINAL, K.ASSET_KIND_COMPRESSED):
            frames = media_tools.frame_hashes(asset(stack, video, kind))
            assert len(frames) == len(own) and not set(frames) & victim_frames
        assert media_tools.frame_hashes(asset(stack, video, K.ASSET_KIND_ORIGINAL)) == own  # a copy: same pictures
        assert video.media.duration_seconds == pytest.approx(2.0, abs=0.1)
    else:
        assert video.status == K.VIDEO_STATUS_FAILED and video.error


@both_backends
async def test_metadata_imitating_the_probe_listing_does_not_set_the_duration(stack, tmp_path):
    clip = media_tools.make_clip(
        tmp_path / "spoof.webm",
        2.0,
        extra=(
            "-metadata",
            "title=Duration: 99:59:59.00, start: 0.000000, bitrate: 1 kb/s",
            "-metadata:s:v:0",
            "comment=x\n  Stream #0:0: Video: h264, yuv420p, 8192x8192, 30 fps",
        ),
    )
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    assert video.media.duration_seconds == pytest.approx(2.0, abs=0.1)
    assert (video.media.width, video.media.height) == (320, 240)


@both_backends
async def test_an_8192x8192_frame_is_refused_at_probe(stack, tmp_path):
    clip = tmp_path / "huge.webm"
    media_tools.ffmpeg(
        *media_tools.lavfi("color=c=black:s=8192x8192:r=1"),
        "-frames:v",
        "1",
        *media_tools.FAST_VP8,
        "-f",
        "webm",
        str(clip),
        timeout=120,
    )
    video = await upload_and_wait(stack, clip.read_bytes(), ALICE)
    assert video.status == K.VIDEO_STATUS_FAILED and video.error_step == K.PROCESSING_STEP_PROBE
    assert "8192x8192" in video.error and "megapixels" in video.error
    assert not [a for a in video.assets if a.kind != K.ASSET_KIND_SOURCE]


# ---- the media service under strace: what its ffmpegs open and connect to ----------------------
async def test_ffmpeg_never_opens_another_users_file_or_connects(stack, tmp_path):
    """strace follows the media service (and every process it starts) while alice's playlists are
    processed: no openat of bob's folder or of the outside file, no connect at all."""
    import shutil

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    victim = await victim_video(stack, tmp_path)
    await wait_chunks_removed(stack, "bob", victim.video_id)  # the service's own last touch of bob's folder
    compressed_key = key_of(victim, K.ASSET_KIND_COMPRESSED)
    outside = media_tools.make_fragmented_mp4(tmp_path / "outside.mp4", 1.0, size="320x240")
    log = tmp_path / "strace.log"
    tracer = subprocess.Popen(
        [strace, "-f", "-qq", "-e", "trace=open,openat,openat2,connect,execve", "-o", str(log), "-p", str(os.getpid())],
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "ping" in log.read_text(errors="replace")):
            assert time.monotonic() < deadline, "strace did not attach"
            (tmp_path / "ping").write_text("x")  # an openat strace logs once it is attached
            await asyncio.sleep(0.1)
        async with Listener() as listener:
            port = listener.port  # read while it listens: a closed server has no sockets
            ids = []
            for kind, target in [
                ("hls", "../../../" + compressed_key.split("users/", 1)[1]),
                ("dash", str(stack.file(compressed_key))),
                ("ffconcat", str(outside)),
                ("hls", f"http://127.0.0.1:{port}/s.mp4"),
            ]:
                ids.append(
                    await upload_unary(stack, playlist(kind, target), ALICE, content_type="application/octet-stream")
                )
            videos = [await wait_final(stack, video_id, ALICE) for video_id in ids]
            connections = listener.connections
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    trace = log.read_text(errors="replace")
    assert "execve(" in trace or "openat(" in trace  # strace saw this process at work
    bob_folder = str(stack.storage_root / "users" / "bob")
    opened = [
        line
        for line in trace.splitlines()
        if "open" in line and (bob_folder in line or "/bob/videos/" in line or str(outside) in line)
    ]
    assert not opened, "\n".join(opened[:5])
    connects = [line for line in trace.splitlines() if "connect(" in line and f"htons({port})" in line]
    assert not connects, "\n".join(connects[:5])
    assert connections == 0
    for video in videos:
        assert video.status == K.VIDEO_STATUS_FAILED and video.error_step == K.PROCESSING_STEP_PROBE, video.error


# ---- the sandbox on its own: even an ffmpeg told nothing (no forced demuxer) stays in its folder --
def _sandbox_or_skip():
    from media_service import sandbox

    found = sandbox.detect("auto")
    if found is None or not found.landlock_abi or not found.unshare:
        pytest.skip("this machine cannot confine ffmpeg (needs root, util-linux and Landlock)")
    return sandbox, found


async def test_a_confined_ffmpeg_cannot_follow_a_playlist_out_of_its_folder_or_connect(tmp_path):
    """The second line of defence, shown with the attack's own command line (`ffmpeg -i list`, no
    forced demuxer, no whitelist): unconfined it reads the file outside its folder; confined it
    cannot, and a URL entry gets no connection."""
    sandbox, found = _sandbox_or_skip()
    job, elsewhere = tmp_path / "job", tmp_path / "elsewhere"
    job.mkdir()
    elsewhere.mkdir()
    secret = media_tools.make_fragmented_mp4(elsewhere / "secret.mp4", 1.0, size="160x120")
    (job / "list.m3u8").write_bytes(playlist("hls", "../elsewhere/secret.mp4"))
    async with Listener() as listener:
        (job / "net.m3u8").write_bytes(playlist("hls", f"http://127.0.0.1:{listener.port}/s.mp4"))

        def run(argv: list[str]) -> subprocess.CompletedProcess:
            return subprocess.run(argv, capture_output=True, text=True, timeout=60)

        def copy_of(name: str) -> list[str]:
            return [
                media_tools.FFMPEG,
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-i",
                str(job / name),
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-f",
                "matroska",
                str(job / f"{name}.mkv"),
            ]

        plain = await asyncio.to_thread(run, copy_of("list.m3u8"))
        assert plain.returncode == 0, plain.stderr  # the attack works without the sandbox
        assert media_tools.frame_hashes(job / "list.m3u8.mkv") == media_tools.frame_hashes(secret)
        (job / "list.m3u8.mkv").unlink()
        confined = await asyncio.to_thread(run, sandbox.confine(found, copy_of("list.m3u8")))
        # Landlock refuses the open (EACCES); the HLS demuxer reports it as a segment it could not read.
        assert confined.returncode != 0 and not (job / "list.m3u8.mkv").exists(), confined.stderr
        confined_net = await asyncio.to_thread(run, sandbox.confine(found, copy_of("net.m3u8")))
        assert confined_net.returncode != 0
        await asyncio.sleep(0)  # let the loop accept anything that did connect
        assert listener.connections == 0
