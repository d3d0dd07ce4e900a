"""Runs ffmpeg as an asyncio subprocess with a timeout, turning -progress output into callbacks."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import shutil
import sys
from collections.abc import Callable, Sequence

from media_service.probe import parse_progress_seconds, sanitise_ffmpeg_message
from media_service.sandbox import Sandbox, confine

log = logging.getLogger("recorder.media.ffmpeg")

STDERR_TAIL_CHARS = 2000
SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
PRLIMIT = shutil.which("prlimit") if sys.platform.startswith("linux") else None


@dataclasses.dataclass(frozen=True)
class FfmpegLimits:
    """Bounds on every ffmpeg run: wall time (then it is killed) and memory (RLIMIT_DATA: heap and
    private mappings; an ffmpeg that needs more fails to allocate and exits with an error)."""
    timeout_seconds: float = 3600.0
    max_memory_bytes: int = 0  # 0: no limit
    sandbox: Sandbox | None = None  # how each run is confined (media_service/sandbox.py)


def _bounded(args: Sequence[str], limits: FfmpegLimits) -> list[str]:
    args = confine(limits.sandbox, args)
    if limits.max_memory_bytes and PRLIMIT:
        return [PRLIMIT, f"--data={limits.max_memory_bytes}", "--", *args]
    return list(args)


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
    # What becomes a FAILED message or an RPC error: no addresses, paths or URLs of ours.
    return sanitise_ffmpeg_message(" | ".join(lines[-4:])[-STDERR_TAIL_CHARS:]) or "no error output"


async def run_ffmpeg(args: Sequence[str], limits: FfmpegLimits,
                     on_progress: Callable[[float], None] | None = None,
                     check: bool = True, stdin_data: bytes | None = None) -> tuple[int, str]:
    """Run to completion; returns (exit code, stderr). With check, a non-zero exit raises
    FfmpegFailed with the last lines of ffmpeg's own message. A run past the timeout is killed.
    stdin_data is ffmpeg's input on pipe:0 (a probe may stop reading it early)."""
    log.debug("running %s", " ".join(args))
    timeout = limits.timeout_seconds
    process = await asyncio.create_subprocess_exec(
        *_with_parent_death_signal(_bounded(args, limits)),
        stdin=asyncio.subprocess.DEVNULL if stdin_data is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def feed() -> None:
        if stdin_data is None:
            return
        assert process.stdin is not None
        try:
            process.stdin.write(stdin_data)
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # ffmpeg had read enough

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
        _, stderr, code, _ = await asyncio.wait_for(
            asyncio.gather(read_progress(), read_stderr(), process.wait(), feed()), timeout)
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
        summary = _summarise(text)
        # Allocation failures show up as these; encoders that cannot get their buffers only say
        # they could not be opened.
        if limits.max_memory_bytes and re.search(r"alloc|memory|failed to map|opening encoder", text, re.I):
            summary = f"ffmpeg ran out of its {limits.max_memory_bytes >> 20} MiB memory limit: {summary}"
        raise FfmpegFailed(summary)
    return code, text


class StreamingFfmpeg:
    """An ffmpeg that reads its input from us through stdin, for processing a recording while it
    is still arriving. Same bounds as run_ffmpeg: parent-death signal, memory limit, and a
    timeout on the final wait."""

    def __init__(self, args: Sequence[str], limits: FfmpegLimits) -> None:
        self.args = list(args)
        self.limits = limits
        self.process: asyncio.subprocess.Process | None = None
        self._readers: asyncio.Future | None = None
        self.seconds_done = 0.0

    async def start(self) -> None:
        log.debug("streaming into %s", " ".join(self.args))
        self.process = await asyncio.create_subprocess_exec(
            *_with_parent_death_signal(_bounded(self.args, self.limits)), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        async def read_progress() -> None:
            async for raw in self.process.stdout:
                seconds = parse_progress_seconds(raw.decode(errors="replace"))
                if seconds is not None:
                    self.seconds_done = seconds

        async def read_stderr() -> bytes:
            tail = bytearray()
            async for raw in self.process.stderr:
                tail += raw
                if len(tail) > 64 * 1024:
                    del tail[: len(tail) - 32 * 1024]
            return bytes(tail)

        self._readers = asyncio.gather(read_progress(), read_stderr())

    async def write(self, data: bytes) -> None:
        """Waits while ffmpeg is behind (the pipe is full): backpressure, not buffering."""
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(data)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise FfmpegFailed(await self._failure("ffmpeg stopped reading its input")) from None

    async def finish(self) -> None:
        """End of input; wait for ffmpeg to write its outputs. Raises FfmpegFailed."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        try:
            code = await asyncio.wait_for(self.process.wait(), self.limits.timeout_seconds)
        except asyncio.TimeoutError:
            self.kill()
            raise FfmpegFailed(f"ffmpeg did not finish within {self.limits.timeout_seconds:.0f} s and was stopped")
        if code != 0:
            raise FfmpegFailed(await self._failure(f"ffmpeg exited with {code}"))
        await self._readers

    async def _failure(self, what: str) -> str:
        self.kill()
        await self.process.wait()
        try:
            _, stderr = await asyncio.wait_for(self._readers, 5)
        except (asyncio.TimeoutError, Exception):
            stderr = b""
        return f"{what}: {_summarise(stderr.decode(errors='replace'))}"

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
        if self._readers is not None:
            # Nobody may wait for the readers now; still collect their end so it is not reported.
            self._readers.add_done_callback(lambda f: f.cancelled() or f.exception())
