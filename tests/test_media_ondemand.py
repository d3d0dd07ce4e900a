"""On-demand outputs through real servers and real ffmpeg: audio in four forms, thumbnails and
previews on request, and downloads that resume."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2, media_pb2, media_pb2_grpc
from tests import media_tools
from tests.helpers import MiB, expect, upload_unary, user, wait_final

ALICE, BOB = user("alice"), user("bob")
pytestmark = [pytest.mark.both_backends, pytest.mark.one_database]
K = common_pb2


def media(stack) -> media_pb2_grpc.MediaServiceStub:
    return media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port))


async def ready_video(stack, path) -> common_pb2.Video:
    video_id = await upload_unary(stack, path.read_bytes(), ALICE, chunk_size=MiB)
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == K.VIDEO_STATUS_READY, video.error
    return video


async def download(stack, video_id, kind, offset=0, md=ALICE) -> tuple[bytes, list[media_pb2.DownloadChunk]]:
    pieces = [
        p
        async for p in media(stack).Download(
            media_pb2.DownloadRequest(video_id=video_id, kind=kind, offset=offset), metadata=md, timeout=60
        )
    ]
    return b"".join(p.data for p in pieces), pieces


@pytest.mark.parametrize(
    "request_fields,kind,codec,suffix",
    [
        ({"format": media_pb2.AUDIO_FORMAT_AAC, "bitrate_kbps": 48}, K.ASSET_KIND_AUDIO_AAC, "aac", ".m4a"),
        ({"format": media_pb2.AUDIO_FORMAT_MP3, "mp3_quality": 2}, K.ASSET_KIND_AUDIO_MP3, "mp3", ".mp3"),
        ({"format": media_pb2.AUDIO_FORMAT_MP3, "bitrate_kbps": 64}, K.ASSET_KIND_AUDIO_MP3, "mp3", ".mp3"),
        ({"format": media_pb2.AUDIO_FORMAT_FLAC}, K.ASSET_KIND_AUDIO_FLAC, "flac", ".flac"),
        ({"format": media_pb2.AUDIO_FORMAT_ORIGINAL}, K.ASSET_KIND_AUDIO_ORIGINAL, "opus", ".opus"),
    ],
)
async def test_audio_extraction(stack, recording_3s, tmp_path, request_fields, kind, codec, suffix):
    video = await ready_video(stack, recording_3s)
    reply = await media(stack).ExtractAudio(
        media_pb2.ExtractAudioRequest(video_id=video.video_id, **request_fields), metadata=ALICE, timeout=120
    )
    assert reply.asset.kind == kind and reply.asset.path.endswith(suffix)
    data, _ = await download(stack, video.video_id, kind)
    assert len(data) == reply.asset.size_bytes
    out = tmp_path / f"audio{suffix}"
    out.write_bytes(data)
    probed = media_tools.probe(out)
    assert probed.video is None and probed.audio.codec == codec
    clean, reached, errors = media_tools.decode_fully(out)
    assert clean, errors
    assert abs(reached - 3.0) < 0.2
    listed = (
        await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video.video_id), metadata=ALICE, timeout=10)
    ).video
    assert kind in [a.kind for a in listed.assets]  # catalogued


async def test_copied_audio_is_the_sources_packets_unchanged(stack, recording_3s, tmp_path):
    video = await ready_video(stack, recording_3s)
    await media(stack).ExtractAudio(
        media_pb2.ExtractAudioRequest(video_id=video.video_id, format=media_pb2.AUDIO_FORMAT_ORIGINAL),
        metadata=ALICE,
        timeout=120,
    )
    data, _ = await download(stack, video.video_id, K.ASSET_KIND_AUDIO_ORIGINAL)
    copy = tmp_path / "copy.opus"
    copy.write_bytes(data)
    source_packets = media_tools.packet_hashes(recording_3s)
    assert len(source_packets) > 100
    assert media_tools.packet_hashes(copy) == source_packets


async def test_audio_requests_that_cannot_work(stack, tmp_path, recording_3s):
    silent = media_tools.make_webm(tmp_path / "silent.webm", 2.0, size="320x240", audio=False)
    video = await ready_video(stack, silent)
    details = await expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        media(stack).ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=video.video_id, format=media_pb2.AUDIO_FORMAT_AAC),
            metadata=ALICE,
            timeout=60,
        ),
    )
    assert "no audio track" in details
    mine = await ready_video(stack, recording_3s)
    for fields in (
        {"format": media_pb2.AUDIO_FORMAT_UNSPECIFIED},
        {"format": media_pb2.AUDIO_FORMAT_AAC, "bitrate_kbps": 999},
        {"format": media_pb2.AUDIO_FORMAT_FLAC, "bitrate_kbps": 64},
        {"format": media_pb2.AUDIO_FORMAT_AAC, "mp3_quality": 2},
    ):
        await expect(
            grpc.StatusCode.INVALID_ARGUMENT,
            media(stack).ExtractAudio(
                media_pb2.ExtractAudioRequest(video_id=mine.video_id, **fields), metadata=ALICE, timeout=60
            ),
        )
    await expect(
        grpc.StatusCode.NOT_FOUND,
        media(stack).ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=mine.video_id, format=media_pb2.AUDIO_FORMAT_AAC),
            metadata=BOB,
            timeout=60,
        ),
    )
    uploading = (await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(), metadata=ALICE, timeout=10)).video_id
    details = await expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        media(stack).ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=uploading, format=media_pb2.AUDIO_FORMAT_AAC),
            metadata=ALICE,
            timeout=60,
        ),
    )
    assert "UPLOADING" in details


async def test_thumbnail_at_a_time_size_and_format(stack, recording_3s, tmp_path):
    video = await ready_video(stack, recording_3s)
    first = [a for a in video.assets if a.kind == K.ASSET_KIND_THUMBNAIL][0]
    assert first.path.endswith("thumbnail.jpg")
    reply = await media(stack).MakeThumbnail(
        media_pb2.MakeThumbnailRequest(
            video_id=video.video_id, at_seconds=1.5, width=320, format=media_pb2.IMAGE_FORMAT_WEBP
        ),
        metadata=ALICE,
        timeout=60,
    )
    assert reply.asset.content_type == "image/webp" and reply.asset.path.endswith("thumbnail.webp")
    data, _ = await download(stack, video.video_id, K.ASSET_KIND_THUMBNAIL)
    image = tmp_path / "t.webp"
    image.write_bytes(data)
    probed = media_tools.probe(image)
    assert probed.video.codec == "webp" and probed.video.width == 320
    assert not media_tools.is_uniform(image)
    assert not stack.file(first.path).exists()  # the replaced JPEG is gone
    # A representative JPEG again, wider than the video: never upscaled.
    reply = await media(stack).MakeThumbnail(
        media_pb2.MakeThumbnailRequest(video_id=video.video_id, width=1920), metadata=ALICE, timeout=60
    )
    assert media_tools.probe(stack.file(reply.asset.path)).video.width == 640
    for fields in ({"at_seconds": 3.5}, {"at_seconds": -1}, {"width": 8}, {"format": media_pb2.IMAGE_FORMAT_GIF}):
        await expect(
            grpc.StatusCode.INVALID_ARGUMENT,
            media(stack).MakeThumbnail(
                media_pb2.MakeThumbnailRequest(video_id=video.video_id, **fields), metadata=ALICE, timeout=60
            ),
        )


@pytest.mark.parametrize("image_format", [media_pb2.IMAGE_FORMAT_WEBP, media_pb2.IMAGE_FORMAT_GIF])
async def test_animated_preview(stack, recording_3s, tmp_path, image_format):
    video = await ready_video(stack, recording_3s)
    reply = await media(stack).MakePreview(
        media_pb2.MakePreviewRequest(
            video_id=video.video_id, start_seconds=0.5, seconds=2, width=240, fps=8, format=image_format
        ),
        metadata=ALICE,
        timeout=120,
    )
    path = stack.file(reply.asset.path)
    assert reply.asset.kind == K.ASSET_KIND_PREVIEW and 0 < path.stat().st_size <= 8 * MiB
    if image_format == media_pb2.IMAGE_FORMAT_WEBP:
        frames, width = media_tools.webp_animation(path)
    else:
        probed = media_tools.probe(path)
        assert probed.video.codec == "gif"
        width = probed.video.width
        _, reached, _ = media_tools.decode_fully(path)
        frames = round(reached * 8)
    assert width == 240
    assert 12 <= frames <= 17  # 2 s at 8 fps
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        media(stack).MakePreview(
            media_pb2.MakePreviewRequest(video_id=video.video_id, seconds=30), metadata=ALICE, timeout=60
        ),
    )


async def test_download_resumes_from_an_offset(stack, recording_3s):
    video = await ready_video(stack, recording_3s)
    compressed = [a for a in video.assets if a.kind == K.ASSET_KIND_COMPRESSED][0]
    whole, pieces = await download(stack, video.video_id, K.ASSET_KIND_COMPRESSED)
    assert hashlib.sha256(whole).digest() == hashlib.sha256(stack.file(compressed.path).read_bytes()).digest()
    assert pieces[0].total_size == len(whole) and pieces[0].content_type == "video/mp4"
    assert [p.offset for p in pieces] == sorted(p.offset for p in pieces) and pieces[0].offset == 0
    cut = len(whole) // 3
    tail, tail_pieces = await download(stack, video.video_id, K.ASSET_KIND_COMPRESSED, offset=cut)
    assert whole[:cut] + tail == whole and tail_pieces[0].offset == cut
    empty, end = await download(stack, video.video_id, K.ASSET_KIND_COMPRESSED, offset=len(whole))
    assert empty == b"" and end[0].total_size == len(whole)
    await expect(
        grpc.StatusCode.OUT_OF_RANGE, download(stack, video.video_id, K.ASSET_KIND_COMPRESSED, offset=len(whole) + 1)
    )
    await expect(grpc.StatusCode.NOT_FOUND, download(stack, video.video_id, K.ASSET_KIND_PREVIEW))
    await expect(grpc.StatusCode.NOT_FOUND, download(stack, video.video_id, K.ASSET_KIND_COMPRESSED, md=BOB))
