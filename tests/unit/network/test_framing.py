import struct

import pytest

from grete.network.framing import FrameDecoder, FrameError


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def test_frames_split_across_reads_are_reassembled() -> None:
    decoder = FrameDecoder(1024)
    data = frame(b"a" * 20) + frame(b"b" * 30)
    for i in range(len(data)):
        decoder.receive_data(data[i : i + 1])
    assert decoder.next_frame() == b"a" * 20
    assert decoder.next_frame() == b"b" * 30
    assert decoder.next_frame() is None
    assert decoder.buffered == 0


def test_partial_frame_waits_for_more() -> None:
    decoder = FrameDecoder(1024)
    decoder.receive_data(frame(b"x" * 50)[:30])
    assert decoder.next_frame() is None
    assert decoder.buffered == 30


@pytest.mark.parametrize(
    "prefix, reason",
    [
        (struct.pack(">i", -5), "negative"),
        (struct.pack(">i", 2000), "limit"),
        (b"GET ", "ASCII"),
        (b"\x16\x03\x01\x02", "TLS"),
        (struct.pack(">i", 3), "too small"),
    ],
)
def test_bad_size_prefix_is_refused(prefix: bytes, reason: str) -> None:
    decoder = FrameDecoder(1024)
    decoder.receive_data(prefix + b"\x00" * 8)
    with pytest.raises(FrameError, match=reason):
        decoder.next_frame()


def test_oversized_frame_is_refused_before_its_body_arrives() -> None:
    decoder = FrameDecoder(100)
    decoder.receive_data(struct.pack(">i", 101))
    with pytest.raises(FrameError):
        decoder.next_frame()
    assert decoder.buffered == 0
