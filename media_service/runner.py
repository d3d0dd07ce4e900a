"""Runs ffmpeg as an asyncio subprocess with a timeout, turning -progress output into callbacks."""
from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from collections.abc import Callable, Sequence

from media_service.probe import parse_progress_seconds

log = logging.getLogger("recorder.media.ffmpeg")

STDERR_TAIL_CHARS = 2000
SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _with_parent_death_signal(args: Sequence[str]) -> list[str]:
    """If the media service dies (even by kill -9), the kernel kills its ffmpeg too instead of
    leaving an orphan encoding for nobody. util-linux's setpriv sets PR_SET_PDEATHSIG and execs
    ffmpeg; a preexec_fn would do the same from Python, but forking a process that runs gRPC
    threads and then running Python code in the child aborted now and then (SIGABRT)."""
    if SETPRIV is None:
        return list(args)  # the step timeout still bounds an orphan
    return [SETPRIV, "--pdeathsig", "KILL", "--", *args]


class FfmpegFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _summarise(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-4:])[-STDERR_TAIL_CHARS:] or "no error output"


async def run_ffmpeg(args: Sequence[str], timeout: float,
                     on_progress: Callable[[float], None] | None = None,
                     check: bool = True) -> tuple[int, str]:
    """Run to completion; returns (exit code, stderr). With check, a non-zero exit raises
    FfmpegFailed with the last lines of ffmpeg's own message. A run past the timeout is killed."""
    log.debug("running %s", " ".join(args))
    process = await asyncio.create_subprocess_exec(
        *_with_parent_death_signal(args), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def read_progress() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            seconds = parse_progress_seconds(raw.decode(errors="replace"))
            if seconds is not None and on_progress is not None:
                on_progress(seconds)

    async def read_stderr() -> bytes:
        assert process.stderr is not None
        # Bounded: keep only the tail so a chatty ffmpeg cannot grow our memory.
        tail = bytearray()
        async for raw in process.stderr:
            tail += raw
            if len(tail) > 64 * 1024:
                del tail[: len(tail) - 32 * 1024]
        return bytes(tail)

    try:
        _, stderr, code = await asyncio.wait_for(
            asyncio.gather(read_progress(), read_stderr(), process.wait()), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise FfmpegFailed(f"ffmpeg did not finish within {timeout:.0f} s and was stopped")
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    text = stderr.decode(errors="replace")
    if code < 0:
        # Killed by a signal: whatever it printed is incomplete, even for a probe.
        log.warning("ffmpeg killed by signal %d: %s | %s", -code, " ".join(args), _summarise(text))
        raise FfmpegFailed(f"ffmpeg was killed by signal {-code}")
    if check and code != 0:
        raise FfmpegFailed(_summarise(text))
    return code, text
