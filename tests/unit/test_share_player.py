"""./dev run builds the share player bundle only when it is stale, and says so when it cannot."""

from __future__ import annotations

import os

from devstack import share_player


def _web(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "share-player.ts").write_text("export {}\n")
    return tmp_path


def test_missing_or_older_bundle_is_stale(tmp_path):
    web = _web(tmp_path)
    assert share_player.stale(web)
    bundle = web / "dist" / "share-player.js"
    bundle.parent.mkdir()
    bundle.write_text("//\n")
    source = web / "src" / "share-player.ts"
    os.utime(source, (1_000, 1_000))
    os.utime(bundle, (2_000, 2_000))
    assert not share_player.stale(web)
    os.utime(source, (3_000, 3_000))  # edited after the build
    assert share_player.stale(web)


def test_without_npm_it_says_so_and_the_stack_goes_on(tmp_path, monkeypatch):
    web = _web(tmp_path)
    monkeypatch.setattr(share_player.shutil, "which", lambda name: None)
    said = []
    assert share_player.ensure_share_player(web, say=lambda text, **_: said.append(text)) is False
    assert len(said) == 1 and "node/npm not found" in said[0]


def test_an_up_to_date_bundle_runs_nothing(tmp_path, monkeypatch):
    web = _web(tmp_path)
    bundle = web / "dist" / "share-player.js"
    bundle.parent.mkdir()
    bundle.write_text("//\n")
    os.utime(web / "src" / "share-player.ts", (1_000, 1_000))
    monkeypatch.setattr(share_player.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError(a)))
    assert share_player.ensure_share_player(web, say=lambda *a, **k: None)
