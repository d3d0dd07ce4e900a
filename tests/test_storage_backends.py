"""The storage backends keep one contract (tests/storage_contract.py): create-only chunks, ranged
reads, prefix removes, keys confined to their owner. Local files and a real SeaweedFS over S3."""

from __future__ import annotations

import pytest

from recorder_common.errors import InvalidArgument, Unauthenticated
from recorder_common.ids import new_video_id
from recorder_common.storage import LocalPaths, Presigner, Store, Transfers, UnsafePath, open_storage
from tests.fakes import RecordedChunks
from tests.storage_contract import CONTRACT, Check

pytestmark = pytest.mark.both_backends


@pytest.fixture
def store(storage_backend) -> Store:
    return open_storage(storage_backend)


def test_each_backend_declares_what_it_can_do(store, storage_backend):
    assert isinstance(store, Store)
    local = storage_backend.backend == "local"
    assert isinstance(store, LocalPaths) is local
    assert isinstance(store, Transfers) is not local
    assert isinstance(store, Presigner) is not local


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__)
async def test_contract(store, tmp_path, check: Check):
    await check(store, tmp_path / "scratch")


async def test_ffmpeg_reads_a_stored_file_in_place(store, storage_backend, tmp_path, recording_3s):
    """On-demand work gives ffmpeg the stored file itself: a path, or on S3 a short-lived presigned
    URL it reads with range requests, so nothing is downloaded into the scratch folder first."""
    from media_service import commands
    from media_service.containers import Container
    from media_service.files import MediaFiles, workspaces_for
    from media_service.runner import FfmpegLimits, run_ffmpeg

    video = new_video_id()
    files = MediaFiles(store, workspaces_for(store, tmp_path / "scratch"), RecordedChunks())
    ws = files.workspace("alice", video)
    async with ws.output("original.webm", step="TEST") as out:
        out.tmp.write_bytes(recording_3s.read_bytes())
    original = out.path
    presigned = isinstance(store, Presigner)
    if presigned:
        original.unlink()  # only the bucket has it now
    source = await ws.ffmpeg_input(out.key)
    assert source.startswith("http://") if presigned else source == str(original)
    still = tmp_path / "still.jpg"
    await run_ffmpeg(
        commands.still_args("ffmpeg", source, Container.WEBM, str(still), 1.5, 160, "JPEG", False), FfmpegLimits()
    )
    assert still.stat().st_size > 0
    assert [p for p in ws.folder.rglob("*") if p.is_file()] == ([] if presigned else [original])
    assert await ws.ffmpeg_input(store.media_key("alice", video, "absent.webm")) is None
    with pytest.raises((UnsafePath, InvalidArgument, Unauthenticated)):
        await ws.ffmpeg_input(store.media_key("bob", video, "original.webm"))
    ws.close()
