"""The storage contract on the in-memory fake Store (tests/unit/fakes.py), and the media service's
workspaces on both strategies: the local folder in place, and scratch folders over a store that
files are copied to (the fake here, S3 in production). mypy checks this module: the fake
satisfies the Store and Transfers protocols structurally."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from media_service.files import LocalWorkspaces, ScratchWorkspaces, Workspace, Workspaces, workspaces_for
from recorder_common.ids import new_video_id
from recorder_common.storage import LocalPaths, LocalStorage, Presigner, Store, Transfers
from tests.storage_contract import CONTRACT, Check
from tests.unit.fakes import MemoryStore


def test_the_fake_is_a_store_that_transfers() -> None:
    store: Store = MemoryStore()  # structural: mypy checks every method's signature here
    transfers: Transfers = MemoryStore()
    assert isinstance(store, Store) and isinstance(transfers, Transfers)
    assert not isinstance(store, LocalPaths) and not isinstance(store, Presigner)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_contract_on_the_fake(check: Check, tmp_path: pathlib.Path) -> None:
    await check(MemoryStore(), tmp_path / "scratch")


@pytest.fixture(params=["local", "scratch"])
def backed(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> tuple[Store, Workspaces]:
    store: Store = LocalStorage(tmp_path / "root") if request.param == "local" else MemoryStore()
    return store, workspaces_for(store, tmp_path / "scratch")


def test_the_strategy_follows_what_the_store_can_do(tmp_path: pathlib.Path) -> None:
    assert isinstance(workspaces_for(LocalStorage(tmp_path), tmp_path / "s"), LocalWorkspaces)
    assert isinstance(workspaces_for(MemoryStore(), tmp_path / "s"), ScratchWorkspaces)

    class ReadOnly(MemoryStore):  # a Store that neither is a folder nor takes uploads
        upload = None  # type: ignore[assignment]

    with pytest.raises(TypeError):
        workspaces_for(ReadOnly(), tmp_path / "s")


def files_in(ws: Workspace) -> list[str]:
    return sorted(p.name for p in ws.folder.iterdir()) if ws.folder.is_dir() else []


async def test_an_output_is_published_and_stored_when_its_block_ends(backed: tuple[Store, Workspaces]) -> None:
    store, workspaces = backed
    ws = workspaces.workspace("alice", new_video_id())
    async with ws.output("thumbnail.jpg", step="THUMBNAIL") as out:
        out.tmp.write_bytes(b"jpeg")
        assert out.tmp.name.startswith(".thumbnail.jpg.THUMBNAIL-") and out.tmp.name.endswith(".tmp")
        assert not out.path.exists() and out.size == 0  # nothing in place before the end
    assert out.key == store.media_key("alice", ws.video_id, "thumbnail.jpg") and out.size == 4
    assert await store.read(out.key) == b"jpeg"
    assert files_in(ws) == ["thumbnail.jpg"]  # no temporary left
    ws.close()


async def test_a_failed_output_leaves_what_was_stored(backed: tuple[Store, Workspaces]) -> None:
    store, workspaces = backed
    ws = workspaces.workspace("alice", new_video_id())
    async with ws.output("thumbnail.jpg", step="THUMBNAIL") as first:
        first.tmp.write_bytes(b"first")
    with pytest.raises(RuntimeError):
        async with ws.output("thumbnail.jpg", step="THUMBNAIL") as second:
            second.tmp.write_bytes(b"half")
            raise RuntimeError("ffmpeg failed")
    assert not second.tmp.exists() and second.size == 0
    assert await store.read(first.key) == b"first"
    assert files_in(ws) == ["thumbnail.jpg"] and first.path.read_bytes() == b"first"
    ws.close()


async def test_a_cancelled_output_stores_nothing(backed: tuple[Store, Workspaces]) -> None:
    store, workspaces = backed
    ws = workspaces.workspace("alice", new_video_id())
    entered, never = asyncio.Event(), asyncio.Event()
    temporaries: list[pathlib.Path] = []

    async def write() -> None:
        async with ws.output("original.webm", step="REMUX") as out:
            out.tmp.write_bytes(b"part")
            temporaries.append(out.tmp)
            entered.set()
            await never.wait()  # the job is stopped here (its lease lost, a shutdown)

    task = asyncio.ensure_future(write())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not temporaries[0].exists() and files_in(ws) == []
    with pytest.raises(FileNotFoundError):
        await store.stat(store.media_key("alice", ws.video_id, "original.webm"))
    ws.close()


async def test_adopting_a_finished_file_moves_and_stores_it(backed: tuple[Store, Workspaces]) -> None:
    store, workspaces = backed
    video = new_video_id()
    session, job = workspaces.workspace("alice", video), workspaces.workspace("alice", video)
    made = session.temporary("source.webm", "live")
    made.write_bytes(b"webm")
    stored = await job.adopt(made, "source.webm")
    assert not made.exists() and stored.path.read_bytes() == b"webm" and stored.size == 4
    assert await store.read(stored.key) == b"webm"
    session.close()
    job.close()


def test_a_jobs_sweep_spares_the_temporaries_of_a_live_encode(tmp_path: pathlib.Path) -> None:
    ws = LocalWorkspaces(LocalStorage(tmp_path)).workspace("alice", new_video_id())
    encode, remux = ws.temporary("compressed.mp4", "COMPRESS"), ws.temporary("original.webm", "REMUX")
    session = ws.path("source.webm").with_name(".source.webm.live-7.tmp")  # a live session's own
    for path in (encode, remux, session):
        path.write_bytes(b"x")
    ws.remove_stale_temporaries()  # the processing job's sweep
    assert encode.exists() and not remux.exists() and not session.exists()
    ws.remove_stale_temporaries(step="COMPRESS")  # the encode's lease holder's
    assert not encode.exists()
    with pytest.raises(ValueError):
        ws.temporary("original.webm", "../x")


async def test_scratch_workspaces_are_private_and_fetch_what_they_need(tmp_path: pathlib.Path) -> None:
    store = MemoryStore()
    workspaces = ScratchWorkspaces(store, tmp_path / "scratch")
    video = new_video_id()
    one, other = workspaces.workspace("alice", video), workspaces.workspace("alice", video)
    assert one.folder != other.folder
    async with one.output("original.webm", step="REMUX") as out:
        out.tmp.write_bytes(b"webm")
    one.close()
    assert not one.folder.exists()
    source = await other.ffmpeg_input(out.key)  # no presigned URLs here: a download
    assert source is not None and pathlib.Path(source).read_bytes() == b"webm"
    assert await other.ffmpeg_input(store.media_key("alice", video, "absent.webm")) is None
    other.close()
    assert not other.folder.exists()
