"""The README's promises: the quick start, grpcurl examples and generated code, checked for real."""

from __future__ import annotations

import ast
import filecmp
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from devstack.harness import free_port
from recorder_common import defaults


ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```\w*\n(.*?)^```", markdown, re.M | re.S)


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    return [ln for ln in code_blocks(section)[0].splitlines() if ln.strip()]


def test_readme_opens_with_quick_start_of_two_commands():
    headings = re.findall(r"^## .*$", README, re.M)
    assert headings[0] == "## Quick start"
    commands = quick_start_commands()
    assert len(commands) == 2
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines, "CI must call the README's test command verbatim"


def test_generated_code_is_in_sync(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(ROOT / "gen") for p in (ROOT / "gen").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == committed, "gen/ has other files than the protos produce: run ./dev gen"
    for rel in fresh:
        assert filecmp.cmp(tmp_path / rel, ROOT / "gen" / rel, shallow=False), (
            f"gen/{rel} is out of date: run ./dev gen and commit the result"
        )


def fresh_clone(dest: pathlib.Path) -> pathlib.Path:
    """What a clone would hold: tracked files plus new ones not ignored (so uncommitted work is
    tested too), copied without the developer's virtualenv, data or caches."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.mark.slow
def test_quick_start_run_from_a_fresh_clone_serves_the_readme_grpcurl_examples(tmp_path, recording_3s):
    clone = fresh_clone(tmp_path / "clone")
    # The README's ports, each replaced by a free one.
    ports = {str(port): free_port() for port in (defaults.CATALOG_PORT, defaults.MEDIA_PORT, defaults.INGEST_PORT)}
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "VENV")}
    env.update(
        CATALOG_PORT=str(ports[str(defaults.CATALOG_PORT)]),
        MEDIA_PORT=str(ports[str(defaults.MEDIA_PORT)]),
        INGEST_PORT=str(ports[str(defaults.INGEST_PORT)]),
        GATEWAY_PORT=str(free_port()),
        DEVAUTH_PORT=str(free_port()),
    )
    run_command = quick_start_commands()[0]
    # exec: the signal below goes to devstack itself, which must pass it on to the services.
    stack = subprocess.Popen(
        f"exec {run_command}",
        shell=True,
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 900
        while not any("devstack: gateway" in ln and "ready" in ln for ln in lines):
            line = stack.stdout.readline()
            assert line or stack.poll() is None, "".join(lines[-40:])
            lines.append(line)
            assert time.monotonic() < deadline, "stack not ready: " + "".join(lines[-40:])
        grpcurl_block = code_blocks(README.split("## grpcurl", 1)[1])[0]
        for old, new in ports.items():
            grpcurl_block = grpcurl_block.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
        shell_env = {**env, "PATH": f"{clone / '.venv' / 'bin'}:{env['PATH']}"}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", grpcurl_block],
            cwd=clone,
            env=shell_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "recorder.v1.IngestService" in result.stdout
        assert '"status": "SERVING"' in result.stdout
        assert '"outcome": "CHUNK_OUTCOME_STORED"' in result.stdout
        assert '"stored_indices": [' in result.stdout and '"missing_indices": [' in result.stdout
        assert '"title": "demo"' in result.stdout
        # And the CLI from the same clone uploads a real recording to READY.
        upload = subprocess.run(
            [str(clone / ".venv" / "bin" / "recorder"), "--user", "carol", "upload", str(recording_3s)],
            env={
                **env,
                "RECORDER_INGEST": defaults.address(ports[str(defaults.INGEST_PORT)]),
                "RECORDER_CATALOG": defaults.address(ports[str(defaults.CATALOG_PORT)]),
            },
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=300,
        )  # the clone's data/auth keys
        assert upload.returncode == 0, upload.stderr
        assert "READY" in upload.stdout
    finally:
        stack.send_signal(signal.SIGTERM)
        try:
            code = stack.wait(30)
        finally:
            try:
                os.killpg(stack.pid, signal.SIGKILL)  # anything left behind
            except ProcessLookupError:
                pass
    assert code == 0, "graceful shutdown on SIGTERM should exit 0"


def test_the_python_tree_has_no_lint_errors():
    """ruff over everything we write, with pyproject.toml's rules (generated code excluded): unused
    imports, undefined names, redefinitions and the like fail the suite (CI's `./dev check` runs
    the same, and mypy)."""
    ruff = (
        shutil.which("ruff", path=str(ROOT / ".venv" / "bin"))
        or shutil.which("ruff")
        or str(pathlib.Path(sys.executable).parent / "ruff")
    )
    result = subprocess.run(
        [ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def imported_test_modules(source: str) -> set[str]:
    """The tests/test_* modules a Python source imports, in any spelling of the import."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if re.fullmatch(r"(tests|\.*)(\.unit)?\.test_\w+|\.*test_\w+", name)}
    return found


def test_imported_test_modules_finds_every_spelling():
    assert imported_test_modules("from tests.test_playback import ready_video") == {"tests.test_playback"}
    assert imported_test_modules("import tests.test_events") == {"tests.test_events"}
    assert imported_test_modules("from tests import test_browser") == {"tests.test_browser"}
    assert imported_test_modules("from .test_browser import WEB") == {".test_browser"}
    assert imported_test_modules("from tests.helpers import user\nfrom tests import media_tools") == set()


def test_no_test_module_imports_another():
    """Shared fixtures live in conftest.py and shared helpers in modules that are not test modules
    (helpers.py, browser.py, videos.py, ...): importing a test module runs its collection-time
    code twice and ties two test files together."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported)
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        if (imported := imported_test_modules(path.read_text()))
    }
    assert offenders == {}, "move what these import to tests/helpers.py, tests/conftest.py or another helper module"
