"""The share page's HLS player bundle (web/dist/share-player.js, served at /s/player.js) for
`./dev run`: web/dist is never committed, so a fresh clone has none. Built here when it is missing
or older than any file under web/src; without node and npm the stack still runs, and the share page
relies on the browser's native HLS (this says so once). Tests build it in their own fixture."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

WEB = pathlib.Path(__file__).resolve().parent.parent / "web"
BUNDLE = WEB / "dist" / "share-player.js"


def stale(web: pathlib.Path = WEB) -> bool:
    """True when the bundle is missing or a source is newer than it."""
    bundle = web / "dist" / "share-player.js"
    if not bundle.exists():
        return True
    built = bundle.stat().st_mtime
    return any(p.stat().st_mtime > built for p in (web / "src").rglob("*") if p.is_file())


def ensure_share_player(web: pathlib.Path = WEB, say=print) -> bool:
    """Build the bundle if it is stale; True when an up-to-date bundle is there afterwards."""
    if not stale(web):
        return True
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        say(
            "devstack: share player not built (node/npm not found): share pages play MP4 but live HLS "
            "needs native HLS; install Node.js and run `cd web && npm ci && npm run build:share`",
            flush=True,
        )
        return False
    try:
        if not (web / "node_modules" / "hls.js").exists():
            say("devstack: installing the web player's packages (npm ci)", flush=True)
            install = [npm, "ci", "--no-audit", "--no-fund"]
            subprocess.run(install, cwd=web, check=True, timeout=600, capture_output=True)
        subprocess.run([npm, "run", "build:share"], cwd=web, check=True, timeout=300, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        say(f"devstack: share player build failed ({exc}); {detail.decode(errors='replace')[-500:]}", flush=True)
        return False
    say(f"devstack: share player built ({web / 'dist' / 'share-player.js'})", flush=True)
    return True
