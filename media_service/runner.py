"""Runs ffmpeg as an asyncio subprocess within bounds, turning -progress output into callbacks.

Every run is bounded in wall time and CPU time (both from the media's duration, with a floor and a
cap), in memory (RLIMIT_DATA, reserved from the process-wide MemoryBudget before it starts), and
dies with this service (PR_SET_PDEATHSIG). A run that is cancelled or over a bound is stopped:
SIGTERM to its process group, SIGKILL after a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Sequence

from media_service.admission import MemoryBudget
from media_service.probe import parse_progress_seconds, sanitise_ffmpeg_message
from media_service.sandbox import Sandbox, confine
from recorder_common import metrics

log = logging.getLogger("recorder.media.ffmpeg")

STDERR_TAIL_CHARS = 2000
SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
PRLIMIT = shutil.which("prlimit") if sys.platform.startswith("linux") else None
NICE = shutil.which("nice")
CHRT = shutil.which("chrt") if sys.platform.startswith("linux") else None
# After SIGTERM ffmpeg gets this long to exit (it finishes its trailer), then SIGKILL.
STOP_GRACE_SECONDS = 0.5
# How often CPU time is read (from /proc) while ffmpeg runs.
WATCH_INTERVAL_SECONDS = 0.5
FIRST_WATCH_SECONDS = 0.05
# RLIMIT_CPU is a backstop set this far above the watched limit: the kernel stops an ffmpeg whose
# watcher did not (this service paused, its loop blocked).
CPU_RLIMIT_MARGIN_SECONDS = 10
# What a streaming ffmpeg is handed at a time (a pipe's buffer).
STREAM_PIECE_BYTES = 64 * 1024
# Memory bound of a run that copies packets or reads headers and decodes at most a frame or two
# (remux, stream extent, probe): small, so the probes and remuxes of many recordings stopping
# together fit in the memory budget next to the encodes.
COPY_MEMORY_BYTES = 512 * 1024 * 1024
# ... and for a live remux, which holds its reservation for as long as the recording lasts: a
# 1080p VP8/Opus copy ran in 48 MiB of RLIMIT_DATA (and failed in 32). At 512 MiB each, the
# watchable share of a 24 GiB machine (6 GiB) held 12 live remuxes: the 13th recording's session
# waited for one to end, fell behind, and made its READY wait at stop (issue 15's cliff at N = 16).
# At 128 MiB, 32 live remuxes take 4 GiB of it and leave room for four thumbnails.
LIVE_COPY_MEMORY_BYTES = 128 * 1024 * 1024
# ... and for decoding a few frames into a still (a thumbnail): one frame of at most
# max_video_pixels and the decoder's reference frames (about 200 MB at 4096x2304), far from an
# encoder's needs.
STILL_MEMORY_BYTES = 512 * 1024 * 1024
# ... and for an encode (x264 at the largest frame we accept, with its lookahead and threads):
# so several fit in the encodes' share of the budget.
ENCODE_MAX_MEMORY_BYTES = 1536 * 1024 * 1024
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def bound_seconds(media_seconds: float, floor: float, per_media_second: float, cap: float) -> float:
    """A step's bound for media_seconds of media: per_media_second each, at least floor, at most
    cap (0: no cap)."""
    value = max(floor, per_media_second * max(0.0, media_seconds))
    return min(value, cap) if cap > 0 else value


@dataclasses.dataclass(frozen=True)
class FfmpegLimits:
    """Bounds on ffmpeg runs. As constructed they are the caps (for a run whose media duration is
    unknown); for_media() narrows them to one step's media."""

    timeout_seconds: float = 3600.0  # wall time, then it is stopped
    max_memory_bytes: int = 0  # RLIMIT_DATA (heap and private mappings); 0: no limit
    # RLIMIT_FSIZE: no file it writes may grow past this; 0: no limit. For outputs -fs cannot
    # bound (the tee muxer that writes HLS beside the compressed file).
    max_file_bytes: int = 0
    cpu_seconds: float = 0.0  # CPU time of all its threads; 0: no cap
    floor_seconds: float = 60.0  # the least any step gets, wall and CPU
    seconds_per_media_second: float = 20.0  # wall and CPU time per second of media
    memory: MemoryBudget | None = dataclasses.field(default=None, compare=False, repr=False)
    sandbox: Sandbox | None = None  # how each run is confined (media_service/sandbox.py)
    # Scheduling niceness (0-19) of the run: encodes run niced, so the cheap work that makes a
    # recording watchable (remux, probe, thumbnail) and ingest get the CPU first whenever they want it.
    niceness: int = 0
    # Run in the SCHED_IDLE class: only on CPU time nothing else wants. Niceness still orders
    # encodes against each other's neighbours at nice 19, but every thread of an x264 encode (a
    # dozen at 1080p) at nice 10 still weighs on the ack path; SCHED_IDLE weighs almost nothing.
    idle_class: bool = False

    def for_media(self, media_seconds: float | None) -> "FfmpegLimits":
        """The bounds of a run over media_seconds of media (None: unknown, the caps)."""
        if media_seconds is None or not math.isfinite(media_seconds):
            return self
        return dataclasses.replace(
            self,
            timeout_seconds=bound_seconds(
                media_seconds, self.floor_seconds, self.seconds_per_media_second, self.timeout_seconds
            ),
            cpu_seconds=bound_seconds(
                media_seconds, self.floor_seconds, self.seconds_per_media_second, self.cpu_seconds
            ),
        )

    def copying(self, at_most: int = COPY_MEMORY_BYTES) -> "FfmpegLimits":
        """For a run that copies packets or only probes: COPY_MEMORY_BYTES at most (a live
        remux: LIVE_COPY_MEMORY_BYTES)."""
        if not self.max_memory_bytes:
            return self
        return dataclasses.replace(self, max_memory_bytes=min(self.max_memory_bytes, at_most))

    def still(self) -> "FfmpegLimits":
        """For a run that decodes a few frames into an image: STILL_MEMORY_BYTES at most."""
        if not self.max_memory_bytes:
            return self
        return dataclasses.replace(self, max_memory_bytes=min(self.max_memory_bytes, STILL_MEMORY_BYTES))

    def quick(self) -> "FfmpegLimits":
        """For a run that reads only the start of its input (a probe): the floor."""
        return self.for_media(0.0)

    def cpu_message(self, used: float, limit: float) -> str:
        return (
            f"ffmpeg used {used:.1f} s of CPU time, more than the {limit:.0f} s this step may use "
            f"({self.seconds_per_media_second:g} s per second of the recording, at least "
            f"{self.floor_seconds:.0f} s, with a cap), and was stopped"
        )


def _bounded(args: Sequence[str], limits: FfmpegLimits) -> list[str]:
    args = confine(limits.sandbox, args)
    if not PRLIMIT:
        return list(args)
    flags = []
    if limits.max_memory_bytes:
        flags.append(f"--data={limits.max_memory_bytes}")
    if limits.max_file_bytes:
        flags += [f"--fsize={limits.max_file_bytes}", "--core=0"]
    if limits.cpu_seconds:
        soft = math.ceil(limits.cpu_seconds) + CPU_RLIMIT_MARGIN_SECONDS
        flags += [f"--cpu={soft}:{soft + 5}", "--core=0"]  # SIGXCPU must not leave a core file
    return [PRLIMIT, *flags, "--", *args] if flags else list(args)


def _with_parent_death_signal(args: Sequence[str]) -> list[str]:
    """If the media service dies (even by kill -9), the kernel kills its ffmpeg too instead of
    leaving an orphan encoding for nobody. util-linux's setpriv sets PR_SET_PDEATHSIG and execs
    ffmpeg; a preexec_fn would do the same from Python, but forking a process that runs gRPC
    threads and then running Python code in the child aborted now and then (SIGABRT)."""
    if SETPRIV is None:
        return list(args)  # the step timeout still bounds an orphan
    return [SETPRIV, "--pdeathsig", "KILL", "--", *args]


def _niced(args: Sequence[str], limits: FfmpegLimits) -> list[str]:
    if limits.idle_class and CHRT is not None:
        args = [CHRT, "--idle", "0", *args]  # chrt takes no "--": the command follows the priority
    if limits.niceness <= 0 or NICE is None:
        return list(args)
    return [NICE, "-n", str(min(limits.niceness, 19)), "--", *args]


def spawn_argv(args: Sequence[str], limits: FfmpegLimits) -> list[str]:
    """The command line that is executed for an ffmpeg run: every wrapper in one place."""
    return _with_parent_death_signal(_niced(_bounded(args, limits), limits))


async def _spawn(args: Sequence[str], limits: FfmpegLimits, stdin: int) -> asyncio.subprocess.Process:
    """The single point where ffmpeg processes are started. Its own session (process group), so
    stopping it reaches anything it started; setpriv and prlimit exec, so the pid is ffmpeg's."""
    return await asyncio.create_subprocess_exec(
        *spawn_argv(args, limits),
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


def cpu_seconds_used(pid: int) -> float | None:
    """User + system CPU time of a running process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def peak_memory_bytes(pid: int) -> int | None:
    """A running process's peak resident memory so far (VmHWM), from /proc."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


class FfmpegFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FfmpegOverBudget(FfmpegFailed):
    """Stopped for using more CPU time than its media's length allows: running the same input
    again (another path, another attempt) would only spend the same again."""


def _summarise(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    # What becomes a FAILED message or an RPC error: no addresses, paths or URLs of ours.
    return sanitise_ffmpeg_message(" | ".join(lines[-4:])[-STDERR_TAIL_CHARS:]) or "no error output"


class _Running:
    """One started ffmpeg: its CPU watch and how it is stopped."""

    def __init__(
        self, process: asyncio.subprocess.Process, limits: FfmpegLimits, cpu_allowance: Callable[[], float]
    ) -> None:
        self.process = process
        self.limits = limits
        self.cpu_allowance = cpu_allowance  # seconds of CPU it may have used by now; 0: any
        self.stopped_for: FfmpegFailed | None = None  # why we stopped it, if we did
        self.cpu_used = 0.0
        self._observed = False
        self.peak_memory_bytes = 0  # VmHWM at the last sample (0: it ended before the first one)
        self._watch = asyncio.ensure_future(self._watch_cpu())

    async def _watch_cpu(self) -> None:
        interval = FIRST_WATCH_SECONDS  # an early first look, so short runs' memory is seen too
        while self.process.returncode is None:
            await asyncio.sleep(interval)
            interval = WATCH_INTERVAL_SECONDS
            used = cpu_seconds_used(self.process.pid)
            if used is None or self.process.returncode is not None:
                return
            self.peak_memory_bytes = peak_memory_bytes(self.process.pid) or self.peak_memory_bytes
            self.cpu_used = used
            allowed = self.cpu_allowance()
            if allowed and used > allowed:
                self.stop(FfmpegOverBudget(self.limits.cpu_message(used, allowed)))
                return

    def stop(self, reason: FfmpegFailed | None = None) -> None:
        """SIGTERM to its process group now and SIGKILL after the grace, whatever happens to the
        caller meanwhile (a second cancellation cannot leave it running)."""
        if reason is not None and self.stopped_for is None:
            self.stopped_for = reason
        if self.process.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, self._signal, signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.process.returncode is None:  # not reaped, so its pid (= group id) is still its own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    async def stop_and_wait(self, reason: FfmpegFailed | None = None) -> None:
        self.stop(reason)
        await asyncio.shield(self.process.wait())

    def done(self) -> None:
        self._watch.cancel()
        if self.peak_memory_bytes and not self._observed:
            self._observed = True
            metrics.FFMPEG_PEAK_MEMORY.observe(self.peak_memory_bytes)


async def run_ffmpeg(
    args: Sequence[str],
    limits: FfmpegLimits,
    on_progress: Callable[[float], None] | None = None,
    check: bool = True,
    stdin_data: bytes | None = None,
) -> tuple[int, str]:
    """Run to completion; returns (exit code, stderr). With check, a non-zero exit raises
    FfmpegFailed with the last lines of ffmpeg's own message. A run past a bound is stopped and
    raises FfmpegFailed saying which (FfmpegOverBudget for CPU time); a cancelled run is stopped
    before the cancellation goes on. stdin_data is ffmpeg's input on pipe:0 (a probe may stop
    reading it early)."""
    log.debug("running %s", " ".join(args))
    timeout = limits.timeout_seconds
    reserved = await limits.memory.acquire(limits.max_memory_bytes) if limits.memory else 0
    try:
        process = await _spawn(
            args, limits, asyncio.subprocess.DEVNULL if stdin_data is None else asyncio.subprocess.PIPE
        )
        running = _Running(process, limits, lambda: limits.cpu_seconds)
        try:
            return await _supervise(running, args, limits, timeout, on_progress, check, stdin_data)
        finally:
            running.done()
    finally:
        if limits.memory:
            limits.memory.release(reserved)


async def _supervise(
    running: _Running,
    args: Sequence[str],
    limits: FfmpegLimits,
    timeout: float,
    on_progress: Callable[[float], None] | None,
    check: bool,
    stdin_data: bytes | None,
) -> tuple[int, str]:
    process = running.process

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

    gathered = asyncio.gather(read_progress(), _read_tail(process.stderr), process.wait(), feed())
    # Its end is collected even when it is cut short (timeout, cancellation), so none is reported.
    gathered.add_done_callback(lambda f: f.cancelled() or f.exception())
    try:
        _, stderr, code, _ = await asyncio.wait_for(gathered, timeout)
    except asyncio.TimeoutError:
        await running.stop_and_wait()
        raise FfmpegFailed(f"ffmpeg did not finish within {timeout:g} s and was stopped") from None
    except asyncio.CancelledError:
        await running.stop_and_wait()
        raise
    if running.stopped_for is not None:
        raise running.stopped_for
    text = stderr.decode(errors="replace")
    if code < 0:
        # Killed by a signal: whatever it printed is incomplete, even for a probe.
        log.warning("ffmpeg killed by signal %d: %s | %s", -code, " ".join(args), _summarise(text))
        if (
            -code in (signal.SIGXCPU, signal.SIGKILL)
            and limits.cpu_seconds
            and running.cpu_used >= limits.cpu_seconds * 0.9
        ):
            raise FfmpegOverBudget(limits.cpu_message(running.cpu_used, limits.cpu_seconds))
        raise FfmpegFailed(f"ffmpeg was killed by signal {-code}")
    if check and code != 0:
        summary = _summarise(text)
        if limits.cpu_seconds and running.cpu_used >= limits.cpu_seconds * 0.9:
            # ffmpeg exits on SIGXCPU (the RLIMIT_CPU backstop) as on SIGTERM, saying nothing.
            raise FfmpegOverBudget(limits.cpu_message(running.cpu_used, limits.cpu_seconds))
        # Allocation failures show up as these; encoders that cannot get their buffers only say
        # they could not be opened.
        if limits.max_memory_bytes and re.search(r"alloc|memory|failed to map|opening encoder", text, re.I):
            summary = f"ffmpeg ran out of its {limits.max_memory_bytes >> 20} MiB memory limit: {summary}"
        raise FfmpegFailed(summary)
    return code, text


async def _read_tail(stream: asyncio.StreamReader | None) -> bytes:
    assert stream is not None
    # Bounded: keep only the tail so a chatty ffmpeg cannot grow our memory.
    tail = bytearray()
    async for raw in stream:
        tail += raw
        if len(tail) > 64 * 1024:
            del tail[: len(tail) - 32 * 1024]
    return bytes(tail)


class StreamingFfmpeg:
    """An ffmpeg that reads its input from us through stdin, for processing a recording while it
    is still arriving. Bounded like run_ffmpeg, with bounds that follow the input as it comes:
    CPU time relative to the media encoded so far, no write may wait longer than the floor (ffmpeg
    stuck or hopelessly behind), and the wait after the input ends is bounded by the media's
    length. Memory is reserved from the budget from start() until ffmpeg has exited."""

    def __init__(self, args: Sequence[str], limits: FfmpegLimits) -> None:
        self.args = list(args)
        self.limits = limits
        self.process: asyncio.subprocess.Process | None = None
        self._readers: asyncio.Future | None = None
        self._running: _Running | None = None
        self.seconds_done = 0.0
        self.frames_done = 0

    def _cpu_allowance(self) -> float:
        limits = self.limits
        return bound_seconds(
            self.seconds_done, limits.floor_seconds, limits.seconds_per_media_second, limits.cpu_seconds
        )

    async def start(self) -> None:
        log.debug("streaming into %s", " ".join(self.args))
        memory = self.limits.memory
        reserved = await memory.acquire(self.limits.max_memory_bytes) if memory else 0
        try:
            self.process = await _spawn(self.args, self.limits, asyncio.subprocess.PIPE)
        except BaseException:
            if memory:
                memory.release(reserved)
            raise
        self._running = _Running(self.process, self.limits, self._cpu_allowance)
        if memory:
            # Given back when ffmpeg has exited, however the session ends.
            asyncio.ensure_future(self.process.wait()).add_done_callback(lambda _: memory.release(reserved))

        async def read_progress() -> None:
            async for raw in self.process.stdout:
                line = raw.decode(errors="replace")
                seconds = parse_progress_seconds(line)
                if seconds is not None:
                    self.seconds_done = seconds
                elif line.startswith("frame=") and line[6:].strip().isdigit():
                    self.frames_done = int(line[6:].strip())  # video frames (packets, when copying)

        self._readers = asyncio.gather(read_progress(), _read_tail(self.process.stderr))

    async def write(self, data: bytes) -> None:
        """Waits while ffmpeg is behind (the pipe is full): backpressure, not buffering."""
        assert self.process is not None and self.process.stdin is not None
        self._raise_if_stopped()
        view = memoryview(data)
        try:
            # In pieces of a pipe's size, each of which ffmpeg must take within the floor: a stall
            # is ffmpeg taking nothing, not a large chunk taking a while.
            for start in range(0, len(view), STREAM_PIECE_BYTES):
                self.process.stdin.write(view[start : start + STREAM_PIECE_BYTES])
                await asyncio.wait_for(self.process.stdin.drain(), self.limits.floor_seconds)
        except (BrokenPipeError, ConnectionResetError):
            self._raise_if_stopped()
            raise FfmpegFailed(await self._failure("ffmpeg stopped reading its input")) from None
        except asyncio.TimeoutError:
            self.kill()
            raise FfmpegFailed(
                f"ffmpeg took no input for {self.limits.floor_seconds:.0f} s (stuck, or far "
                "behind the recording) and was stopped"
            ) from None

    async def finish(self, media_seconds: float = 0.0) -> None:
        """End of input; wait for ffmpeg to write its outputs, at most the step bound of
        media_seconds (what the caller knows of the input's length) or of what ffmpeg has done
        so far, whichever is longer. Raises FfmpegFailed."""
        assert self.process is not None and self.process.stdin is not None
        self._raise_if_stopped()
        self.process.stdin.close()
        timeout = self.limits.for_media(max(media_seconds, self.seconds_done)).timeout_seconds
        try:
            code = await asyncio.wait_for(asyncio.shield(self.process.wait()), timeout)
        except asyncio.TimeoutError:
            self.kill()
            raise FfmpegFailed(
                f"ffmpeg did not finish within {timeout:.0f} s after its input ended and was stopped"
            ) from None
        self._raise_if_stopped()
        if code != 0:
            raise FfmpegFailed(await self._failure(f"ffmpeg exited with {code}"))
        self._running.done()
        await self._readers

    def _raise_if_stopped(self) -> None:
        if self._running is not None and self._running.stopped_for is not None:
            self.kill()
            raise self._running.stopped_for

    async def _failure(self, what: str) -> str:
        self.kill()
        await asyncio.shield(self.process.wait())
        try:
            _, stderr = await asyncio.wait_for(self._readers, 5)
        except (asyncio.TimeoutError, Exception):
            stderr = b""
        return f"{what}: {_summarise(stderr.decode(errors='replace'))}"

    def kill(self) -> None:
        """Stop it (SIGTERM, SIGKILL after the grace); returns at once."""
        if self._running is not None:
            self._running.stop()
            self._running.done()
        if self._readers is not None:
            # Nobody may wait for the readers now; still collect their end so it is not reported.
            self._readers.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def stop(self) -> None:
        """kill() and wait until it has exited."""
        self.kill()
        if self.process is not None:
            await asyncio.shield(self.process.wait())
