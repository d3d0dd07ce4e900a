"""The test harness itself: what keeps one failed test from hanging the rest of the run."""

import subprocess
import sys
import textwrap

# A server a failed test left running, freed by the garbage collector in an executor thread of a
# later test's loop. Without the session's own grpc.aio reference (tests/conftest.py) this hangs
# for good: the collection drops grpc's count to zero and joins a poller that never ends.
LEFT_RUNNING_THEN_COLLECTED = textwrap.dedent(
    """
    import asyncio, gc
    import grpc
    import tests.conftest  # noqa: F401  (holds the session's grpc.aio reference)

    async def failed_test():
        server = grpc.aio.server()
        server.add_insecure_port("127.0.0.1:0")
        await server.start()
        left = [server]
        left.append(left)  # a traceback's reference cycle, as a failed test leaves one

    asyncio.run(failed_test())
    gc.disable()

    async def next_test():
        await asyncio.to_thread(gc.collect)

    asyncio.run(next_test())
    print("next test ran")
    """
)


def test_a_server_left_running_by_a_failed_test_does_not_hang_the_next_one():
    done = subprocess.run(
        [sys.executable, "-c", LEFT_RUNNING_THEN_COLLECTED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "next test ran" in done.stdout
