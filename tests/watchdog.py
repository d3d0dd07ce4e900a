"""Two guards that keep one stuck test from costing the whole run.

- Leftover ffmpeg: a test that times out (pytest-timeout raises inside it) never reaches its
  stack's shutdown, and the ffmpeg its in-process media service started run on, taking a core
  from every later test. After each test, any ffmpeg or ffprobe this process started and that is
  still running is killed (each runs in its own process group), and the test's report says so.
- A hard ceiling per test: pytest-timeout's signal method raises in the test, but a teardown
  that then blocks where the signal cannot reach (a thread join, an executor shutdown) hangs the
  run for good. Past HARD_LIMIT_SECONDS in one test, every thread's stack is printed and the run
  exits with status 3, so CI ends with a diagnosis instead of running out its clock.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

import pytest

HARD_LIMIT_SECONDS = float(os.environ.get("TEST_HARD_LIMIT_SECONDS", "900"))
MEDIA_TOOLS = {b"ffmpeg", b"ffprobe"}


def _children_running_media_tools() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
        comm = stat[stat.index(b"(") + 1 : stat.rindex(b")")]
        fields = stat[stat.rindex(b")") + 2 :].split()
        if comm in MEDIA_TOOLS and fields[0] != b"Z" and int(fields[1]) == me:
            found.append(int(entry))
    return found


class Watchdog:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.current: tuple[str, float] | None = None
        self.lock = threading.Lock()
        threading.Thread(target=self._watch, name="test-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(5)
            with self.lock:
                current = self.current
            if current is not None and time.monotonic() - current[1] > HARD_LIMIT_SECONDS:
                name = current[0]
                # Out of pytest's capture (which holds fd 2 during a test), or the dump is lost.
                capture = self.config.pluginmanager.getplugin("capturemanager")
                if capture is not None:
                    capture.suspend_global_capture(in_=True)
                sys.stderr.write(
                    f"\n\ntest watchdog: {name} has run for more than {HARD_LIMIT_SECONDS:.0f} s "
                    "(its timeout did not stop it); the stacks of every thread follow, then the run "
                    "exits with status 3\n"
                )
                faulthandler.dump_traceback(all_threads=True)
                for pid in _children_running_media_tools():
                    _kill_group(pid)
                sys.stderr.flush()
                os._exit(3)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        with self.lock:
            self.current = (item.nodeid, time.monotonic())
        try:
            yield
        finally:
            with self.lock:
                self.current = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        yield
        leftovers = _children_running_media_tools()
        for pid in leftovers:
            _kill_group(pid)
        if leftovers:
            item.add_report_section(
                "teardown", "watchdog", f"killed {len(leftovers)} ffmpeg/ffprobe left running: {leftovers}"
            )


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
            return
        except (ProcessLookupError, PermissionError):
            continue
