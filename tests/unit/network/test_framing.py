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


def test_random_splits_and_sizes_via_the_buffer_protocol() -> None:
    import random

    rng = random.Random(7)
    for _ in range(200):
        decoder = FrameDecoder(10_000, scratch_bytes=64)
        payloads = [bytes(rng.getrandbits(8) for _ in range(rng.choice([10, 11, 30, 59, 60, 61, 200, 3000])))
                    for _ in range(rng.randint(1, 8))]
        stream = b"".join(frame(p) for p in payloads)
        got: list[bytes] = []
        at = 0
        while at < len(stream):
            buf = decoder.get_buffer()
            assert len(buf) > 0
            n = min(len(buf), rng.randint(1, 100), len(stream) - at)
            buf[:n] = stream[at : at + n]
            decoder.buffer_updated(n)
            at += n
            if rng.random() < 0.7:  # sometimes let frames pile up, as under backpressure
                while (f := decoder.next_frame()) is not None:
                    got.append(bytes(f))
        while (f := decoder.next_frame()) is not None:
            got.append(bytes(f))
        assert got == payloads
        assert decoder.buffered == 0


def test_large_frame_gets_its_own_exactly_sized_buffer() -> None:
    decoder = FrameDecoder(1 << 20, scratch_bytes=64)
    payload = bytes(range(256)) * 400
    decoder.receive_data(frame(payload)[:100])
    assert decoder.next_frame() is None
    buf = decoder.get_buffer()
    assert len(buf) == len(payload) - 96  # the rest of the frame, received in place
    decoder.receive_data(frame(payload)[100:])
    out = decoder.next_frame()
    assert isinstance(out, bytearray) and out == payload
