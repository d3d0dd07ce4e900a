"""recorder: upload a screen recording in chunks and look at your videos.

  recorder upload FILE [--chunk-size 1MiB] [--title T] [--resume VIDEO_ID] [--no-wait]
  recorder videos [--page-size N]
  recorder show VIDEO_ID
  recorder share VIDEO_ID [--expires 7d] [--allow-download]   print a share link
  recorder open VIDEO_ID [--kind original|compressed|thumbnail]   print a signed playback URL

Uploads stream the file over one client-streaming RPC;
after a dropped connection or a restart of the service it asks which chunks are stored and sends
only the rest, with backoff. Settings come from the environment (RECORDER_INGEST, RECORDER_CATALOG,
RECORDER_MEDIA, RECORDER_GATEWAY, RECORDER_TOKEN) or the flags; links are printed under
RECORDER_GATEWAY (the gateway's public address). Without a token, and with the development keys that `./dev run`
creates in ./data/auth, it signs a development token for RECORDER_USER (default dev-user).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import pathlib
import re
import sys

import google_crc32c
import grpc
from google.protobuf.json_format import MessageToDict

from recorder.v1 import (
    catalog_pb2,
    catalog_pb2_grpc,
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    media_pb2,
    media_pb2_grpc,
)
from recorder_cli.progress import ProgressBar
from recorder_common import defaults
from recorder_common.errors import Reason, reason_of
from recorder_common.serving import message_options
from recorder_common.vocab import RenditionKind, RenditionState, Step, VideoStatus

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# What to do next, by the refusal's ErrorInfo reason (never by its English message).
NEXT_STEP = {
    Reason.QUOTA_EXCEEDED: "delete videos you no longer need (`recorder videos` lists them)",
    Reason.TOO_MANY_OPEN_UPLOADS: "finish an upload in progress with `recorder upload FILE --resume VIDEO_ID`",
    Reason.CHUNK_TOO_LARGE: "upload again with a smaller --chunk-size",
    Reason.UPLOAD_TOO_LARGE: "this file is over the server's upload size limit",
    Reason.UPLOAD_FINISHED: "the upload is finished or was aborted; `recorder show VIDEO_ID` tells which",
    Reason.UNAUTHENTICATED: "set RECORDER_TOKEN to a valid token (or run `./dev token USER`)",
}


def describe_error(exc: grpc.aio.AioRpcError) -> str:
    reason = reason_of(exc)
    text = f"{exc.code().name}: {exc.details()}"
    if reason is not None:
        text += f" [{reason}]"
        if reason in NEXT_STEP:
            text += f"\n  next: {NEXT_STEP[reason]}"
    return text


UNARY_DEADLINE_SECONDS = 15.0


@dataclasses.dataclass(frozen=True)
class CliSettings:
    ingest: str = defaults.INGEST_TARGET
    catalog: str = defaults.CATALOG_TARGET
    media: str = defaults.MEDIA_TARGET
    # Where people reach the gateway: share links and playback URLs are printed under it.
    gateway: str = defaults.GATEWAY_URL
    token: str | None = None
    # Development only: with no token, sign one for this user with the local keys in dev_auth_dir.
    user: str = "dev-user"
    dev_auth_dir: str = defaults.AUTH_DIR

    @classmethod
    def from_env(cls, env) -> "CliSettings":
        return cls(
            ingest=env.get("RECORDER_INGEST", cls.ingest),
            catalog=env.get("RECORDER_CATALOG", cls.catalog),
            media=env.get("RECORDER_MEDIA", cls.media),
            gateway=env.get("RECORDER_GATEWAY", cls.gateway),
            token=env.get("RECORDER_TOKEN") or None,
            user=env.get("RECORDER_USER", cls.user),
            dev_auth_dir=env.get("RECORDER_DEV_AUTH_DIR", cls.dev_auth_dir),
        )

    def bearer_token(self) -> str:
        if self.token:
            return self.token
        from devauth.keys import USERS_KEY, DevKeys

        folder = pathlib.Path(self.dev_auth_dir)
        if not (folder / USERS_KEY).is_file():
            raise SystemExit(
                "recorder: no token. Set RECORDER_TOKEN, or run `./dev run` once so that "
                f"development keys exist in {folder} (then `./dev token USER` prints one)"
            )
        return DevKeys(folder).mint(self.user, ttl_seconds=12 * 3600)


def parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*(B|KiB|MiB|GiB|K|M|G|KB|MB|GB)?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 1MiB, 512KiB or 1048576)")
    number, unit = int(match.group(1)), (match.group(2) or "B").lower()
    factor = {
        "b": 1,
        "k": 1024,
        "kib": 1024,
        "kb": 1024,
        "m": 1024**2,
        "mib": 1024**2,
        "mb": 1024**2,
        "g": 1024**3,
        "gib": 1024**3,
        "gb": 1024**3,
    }[unit]
    if number * factor <= 0:
        raise argparse.ArgumentTypeError("the chunk size must be positive")
    return number * factor


def parse_duration(text: str) -> int:
    """Seconds from "7d", "12h", "30m", "45s" or a plain number; "never" or 0: no expiry."""
    if text.strip().lower() in ("never", "0"):
        return 0
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text, re.I)
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 7d, 12h, 30m or never)")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2).lower()]


def public_url(gateway: str, url: str) -> str:
    """A path from the services under the gateway's address; an absolute URL as it is."""
    return url if re.match(r"https?://", url) else gateway.rstrip("/") + url


def content_type_for(path: pathlib.Path) -> str:
    return {".webm": "video/webm", ".mp4": "video/mp4", ".mkv": "video/x-matroska"}.get(
        path.suffix.lower(), "application/octet-stream"
    )


class Client:
    def __init__(self, settings: CliSettings, chunk_size: int = 1024 * 1024) -> None:
        options = message_options(max(chunk_size, defaults.MESSAGE_BYTES))
        self.ingest_channel = grpc.aio.insecure_channel(settings.ingest, options=options)
        self.catalog_channel = grpc.aio.insecure_channel(settings.catalog, options=options)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self.ingest_channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.catalog_channel)
        self.media_channel = grpc.aio.insecure_channel(settings.media, options=options)
        self.media = media_pb2_grpc.MediaServiceStub(self.media_channel)
        self.gateway = settings.gateway
        self.metadata = (("authorization", f"Bearer {settings.bearer_token()}"),)

    async def close(self) -> None:
        await self.ingest_channel.close()
        await self.catalog_channel.close()
        await self.media_channel.close()


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def read_chunk(path: pathlib.Path, index: int, chunk_size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(index * chunk_size)
        return f.read(chunk_size)


async def upload(
    client: Client,
    path: pathlib.Path,
    chunk_size: int,
    title: str,
    resume: str | None,
    max_attempts: int = 8,
    out=sys.stdout,
) -> str:
    size = path.stat().st_size
    total = chunk_count(size, chunk_size)
    if resume:
        video_id = resume
    else:
        created = await client.ingest.CreateUpload(
            ingest_pb2.CreateUploadRequest(
                title=title or path.stem,
                filename=path.name,
                content_type=content_type_for(path),
                expected_size_bytes=size,
            ),
            timeout=UNARY_DEADLINE_SECONDS,
            metadata=client.metadata,
        )
        video_id = created.video_id
    print(f"video {video_id}", file=out, flush=True)
    bar = ProgressBar(size)
    attempt = 0
    while True:
        attempt += 1
        try:
            state = (
                await client.ingest.GetUploadState(
                    ingest_pb2.GetIngestUploadStateRequest(video_id=video_id),
                    timeout=UNARY_DEADLINE_SECONDS,
                    metadata=client.metadata,
                )
            ).state
            stored = set(state.stored_indices)
            if state.complete or state.status != common_pb2.VIDEO_STATUS_UPLOADING:
                bar.update(size)
                break
            todo = [i for i in range(total) if i not in stored]
            sent = sum(min(chunk_size, size - i * chunk_size) for i in stored if i < total)
            if stored:
                print(
                    f"resuming: {len(stored)} of {total} chunks already stored, sending {len(todo)}",
                    file=sys.stderr,
                    flush=True,
                )
            bar.update(sent, force=True)

            async def messages():
                nonlocal sent
                yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(resume_video_id=video_id))
                for index in todo:
                    data = await asyncio.to_thread(read_chunk, path, index, chunk_size)
                    yield ingest_pb2.UploadRequest(
                        chunk=ingest_pb2.Chunk(
                            index=index, data=data, crc32c=google_crc32c.value(data), is_last=index == total - 1
                        )
                    )
                    sent += len(data)
                    bar.update(sent)

            # Generous, but bounded: a stalled connection must not hang the CLI forever.
            deadline = 60.0 + (size - sent) / (256 * 1024)
            response = await client.ingest.Upload(messages(), timeout=deadline, metadata=client.metadata)
            bar.update(size)
            if response.state.complete:
                break
            raise RuntimeError(f"upload ended incomplete; missing chunks {list(response.state.missing_indices)[:20]}")
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRYABLE or attempt >= max_attempts:
                bar.close()
                raise
            delay = min(0.5 * 2 ** (attempt - 1), 10.0)
            print(
                f"\n{exc.code().name}: {exc.details()}; resuming in {delay:.1f} s "
                f"(attempt {attempt + 1}/{max_attempts})",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(delay)
    bar.close()
    return video_id


def rendition_name(value: int) -> str:
    return RenditionKind.name_of(value).lower()


def rendition_state_name(value: int) -> str:
    return RenditionState.name_of(value)


def progress_lines(update: catalog_pb2.VideoUpdate) -> list[str]:
    """What a person watching sees: the video's status (READY: ready to watch), then each
    rendition's own state and progress, a second kind of done."""
    line = VideoStatus.name_of(update.status)
    if update.status == common_pb2.VIDEO_STATUS_PROCESSING and update.step:
        line += f" {Step.name_of(update.step)} {update.progress * 100:.0f}%"
    elif update.status == common_pb2.VIDEO_STATUS_READY:
        line += " (ready to watch)"
    lines = [line]
    if update.status == common_pb2.VIDEO_STATUS_READY:
        for r in update.renditions:
            text = f"  {rendition_name(r.kind)} {rendition_state_name(r.state)}"
            if r.state == common_pb2.RENDITION_STATE_PROCESSING:
                text += f" {r.progress * 100:.0f}%"
            elif r.state == common_pb2.RENDITION_STATE_FAILED:
                text += f": {r.error}"
            lines.append(text)
    return lines


async def follow(client: Client, video_id: str, timeout: float, out=sys.stdout) -> common_pb2.Video:
    """Print status changes and step progress from the catalog's watch stream until the video is
    READY (ready to watch) and its renditions are done, or FAILED."""
    updates = client.catalog.WatchVideo(
        catalog_pb2.WatchVideoRequest(video_id=video_id), timeout=timeout, metadata=client.metadata
    )
    last: list[str] = []
    async for update in updates:
        lines = progress_lines(update)
        for i, line in enumerate(lines):
            if i >= len(last) or line != last[i]:  # only what changed
                print(line, file=out, flush=True)
        last = lines
    return (
        await client.catalog.GetVideo(
            catalog_pb2.GetVideoRequest(video_id=video_id), timeout=UNARY_DEADLINE_SECONDS, metadata=client.metadata
        )
    ).video


def describe(video: common_pb2.Video) -> str:
    data = MessageToDict(video, preserving_proto_field_name=True)
    return json.dumps(data, indent=2, ensure_ascii=False)


async def run(args: argparse.Namespace, settings: CliSettings) -> int:
    client = Client(settings, getattr(args, "chunk_size", 1024 * 1024))
    try:
        if args.command == "upload":
            path = pathlib.Path(args.file)
            if not path.is_file():
                print(f"no such file: {path}", file=sys.stderr)
                return 2
            video_id = await upload(client, path, args.chunk_size, args.title, args.resume)
            if args.no_wait:
                return 0
            video = await follow(client, video_id, args.wait_timeout)
            if video.status == common_pb2.VIDEO_STATUS_FAILED:
                print(f"failed at {Step.name_of(video.error_step)}: {video.error}", file=sys.stderr)
                return 1
            print(describe(video))
            return 0
        if args.command == "videos":
            token = ""
            while True:
                page = await client.catalog.ListVideos(
                    catalog_pb2.ListVideosRequest(page_size=args.page_size, page_token=token),
                    timeout=UNARY_DEADLINE_SECONDS,
                    metadata=client.metadata,
                )
                for v in page.videos:
                    renditions = " ".join(
                        f"{rendition_name(r.kind)}:{rendition_state_name(r.state)}" for r in v.renditions
                    )
                    print(
                        f"{v.video_id}  {VideoStatus.name_of(v.status):<10}  {v.media.duration_seconds:7.1f}s  "
                        f"{v.received_bytes:>12}  {renditions:<20}  {v.title}"
                    )
                token = page.next_page_token
                if not token or not args.all:
                    return 0
        if args.command == "show":
            video = (
                await client.catalog.GetVideo(
                    catalog_pb2.GetVideoRequest(video_id=args.video_id),
                    timeout=UNARY_DEADLINE_SECONDS,
                    metadata=client.metadata,
                )
            ).video
            print(describe(video))
            return 0
        if args.command == "share":
            link = (
                await client.catalog.CreateShareLink(
                    catalog_pb2.CreateShareLinkRequest(
                        video_id=args.video_id, expires_in_seconds=args.expires, allow_download=args.allow_download
                    ),
                    timeout=UNARY_DEADLINE_SECONDS,
                    metadata=client.metadata,
                )
            ).link
            print(public_url(client.gateway, link.path))
            return 0
        if args.command == "open":
            kind = media_pb2.PlaybackKind.Value(f"PLAYBACK_KIND_{args.kind.upper()}") if args.kind else 0
            reply = await client.media.GetPlaybackUrl(
                media_pb2.GetPlaybackUrlRequest(video_id=args.video_id, kind=kind),
                timeout=UNARY_DEADLINE_SECONDS,
                metadata=client.metadata,
            )
            print(public_url(client.gateway, reply.url))
            return 0
        return 2
    except grpc.aio.AioRpcError as exc:
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return 1
    finally:
        await client.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recorder", description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", help="ingest service address (env RECORDER_INGEST)")
    parser.add_argument("--catalog", help="catalog service address (env RECORDER_CATALOG)")
    parser.add_argument("--media", help="media service address (env RECORDER_MEDIA)")
    parser.add_argument("--gateway", help="the gateway's public URL links are printed under (env RECORDER_GATEWAY)")
    parser.add_argument(
        "--user",
        help="development: sign a token for this user with the local dev keys "
        "when RECORDER_TOKEN is not set (env RECORDER_USER)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upload", help="upload a recording and follow it to READY")
    up.add_argument("file")
    up.add_argument("--chunk-size", type=parse_size, default=1024 * 1024)
    up.add_argument("--title", default="")
    up.add_argument("--resume", metavar="VIDEO_ID", help="continue an earlier upload of this file")
    up.add_argument("--no-wait", action="store_true", help="return once the bytes are stored")
    up.add_argument("--wait-timeout", type=float, default=1800.0)
    ls = commands.add_parser("videos", help="list your videos, newest first")
    ls.add_argument("--page-size", type=int, default=20)
    ls.add_argument("--all", action="store_true", help="follow every page")
    show = commands.add_parser("show", help="print one video as JSON")
    show.add_argument("video_id")
    share = commands.add_parser("share", help="make a share link to a video and print it")
    share.add_argument("video_id")
    share.add_argument(
        "--expires",
        type=parse_duration,
        default=7 * 86400,
        help="how long the link works: 7d (default), 12h, 30m, or never",
    )
    share.add_argument("--allow-download", action="store_true", help="offer a download on the page")
    open_ = commands.add_parser("open", help="print a signed playback URL of a video (valid for an hour)")
    open_.add_argument("video_id")
    open_.add_argument(
        "--kind",
        choices=["original", "compressed", "thumbnail"],
        help="which file (default: the compressed copy when there is one, else the original)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    base = CliSettings.from_env(os.environ)
    settings = CliSettings(
        ingest=args.ingest or base.ingest,
        catalog=args.catalog or base.catalog,
        media=args.media or base.media,
        gateway=args.gateway or base.gateway,
        token=base.token,
        user=args.user or base.user,
        dev_auth_dir=base.dev_auth_dir,
    )
    return asyncio.run(run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
