"""Inputs that are small on disk and expensive to process, made cheaply (for fairness tests and
bench/fairness.py)."""

from __future__ import annotations

import pathlib
import struct
import tempfile

from tests.media_tools import ffmpeg, lavfi


def _ivf_frames(path: pathlib.Path) -> list[bytes]:
    data = path.read_bytes()
    frames, offset = [], 32  # IVF: a 32-byte file header, then (size u32, pts u64, bytes) per frame
    while offset < len(data):
        size, _ = struct.unpack("<IQ", data[offset : offset + 12])
        frames.append(data[offset + 12 : offset + 12 + size])
        offset += 12 + size
    return frames


def make_still_image_bomb(
    path: pathlib.Path, seconds: float = 36000, frame_every: float = 4.0, size: tuple[int, int] = (1920, 1080)
) -> pathlib.Path:
    """One 1080p picture shown for `seconds` (10 h): a VP8 WebM of a keyframe and then the same
    "nothing changed" inter frame (about 200 bytes) every `frame_every` seconds, about 2 MB in all.
    Only ten frames are encoded; the rest are that packet repeated, so it takes a second to make
    and minutes of CPU to re-encode (each repeat is still a full 1080p frame to the encoder)."""
    width, height = size
    with tempfile.TemporaryDirectory() as folder:
        seed = pathlib.Path(folder) / "seed.ivf"
        # A fixed quantiser and a high static threshold make the repeats skip every block.
        ffmpeg(
            *lavfi(f"testsrc2=size={width}x{height}:rate=1"),
            "-vf",
            "trim=end_frame=1,loop=loop=9:size=1:start=0,setpts=N/1/TB",
            "-frames:v",
            "10",
            "-c:v",
            "libvpx",
            "-g",
            "100000",
            "-auto-alt-ref",
            "0",
            "-static-thresh",
            "100000",
            "-qmin",
            "10",
            "-qmax",
            "10",
            "-b:v",
            "50M",
            "-deadline",
            "good",
            "-cpu-used",
            "4",
            "-f",
            "ivf",
            str(seed),
            timeout=120,
        )
        keyframe, *_, repeat = _ivf_frames(seed)
        count = int(seconds / frame_every)
        ivf = pathlib.Path(folder) / "bomb.ivf"
        with open(ivf, "wb") as out:  # time base 1/1000: timestamps in milliseconds
            out.write(b"DKIF" + struct.pack("<HH4sHHIIII", 0, 32, b"VP80", width, height, 1000, 1, count, 0))
            for i in range(count):
                frame = keyframe if i == 0 else repeat
                out.write(struct.pack("<IQ", len(frame), int(i * frame_every * 1000)) + frame)
        ffmpeg("-i", str(ivf), "-c", "copy", "-f", "webm", str(path), timeout=120)
    return path
