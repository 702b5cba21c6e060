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
        (b"GET ", "HTTP"),
        (b"quit", "ASCII"),
        (b"\x16\x03\x01\x02", "TLS"),
        (struct.pack(">i", 3), "too small"),
    ],
)
def test_bad_size_prefix_is_refused(prefix: bytes, reason: str) -> None:
    decoder = FrameDecoder(1024)
    decoder.receive_data(prefix + b"\x00" * 8)
    with pytest.raises(FrameError, match=reason):
        decoder.next_frame()


TWO_GIB = 2**31 - 1  # the largest cap socket.request.max.bytes can be raised to


@pytest.mark.parametrize(
    "prefix, looks_like",
    [
        (b"GET ", "an HTTP request on a Kafka listener"),
        (b"POST", "an HTTP request on a Kafka listener"),
        (b"PUT ", "an HTTP request on a Kafka listener"),
        (b"HEAD", "an HTTP request on a Kafka listener"),
        (b"PRI ", "an HTTP request on a Kafka listener"),
        (b"SSH-", "ASCII text"),
        (b"\x16\x03\x01\x02", "a TLS handshake on a plaintext listener"),
        (b"\x16\x03\x03\x00", "a TLS handshake on a plaintext listener"),
    ],
)
def test_text_or_tls_is_refused_under_a_cap_above_its_size(prefix: bytes, looks_like: str) -> None:
    decoder = FrameDecoder(TWO_GIB, scratch_bytes=64)
    assert struct.unpack(">i", prefix)[0] <= TWO_GIB  # the cap alone would take it
    decoder.receive_data(prefix)
    with pytest.raises(FrameError, match=looks_like):
        decoder.next_frame()
    assert decoder.buffered == 0
    assert len(decoder.get_buffer()) == 64, "no frame buffer may have been allocated"


def test_text_or_tls_filling_the_scratch_buffer_is_refused_without_allocating() -> None:
    # The socket asks for room before next_frame runs: get_buffer must not take the frame.
    decoder = FrameDecoder(TWO_GIB, scratch_bytes=16)
    decoder.receive_data(b"GET / HTTP/1.1\r\n")
    assert len(decoder.get_buffer()) <= 32
    with pytest.raises(FrameError, match="HTTP request"):
        decoder.next_frame()


def test_a_large_binary_size_under_a_raised_cap_is_accepted() -> None:
    # 0x05000000 (80 MiB) is over SUSPECT_SIZE but neither text nor TLS: a real frame.
    decoder = FrameDecoder(TWO_GIB, scratch_bytes=64)
    size = 80 * 1024 * 1024
    decoder.receive_data(struct.pack(">i", size) + b"\x00" * 12)
    assert decoder.next_frame() is None
    assert len(decoder.get_buffer()) == size - 12  # its own buffer, filling in place


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
