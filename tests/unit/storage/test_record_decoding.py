from __future__ import annotations

import pytest

from grete.records.batch import Compression
from grete.records.record import Record, decode_records, read_varint

from .batches import T0, make_batch, varint


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 300, -300, 2**31 - 1, -(2**31), 2**62])
def test_varint_round_trip(value: int) -> None:
    encoded = varint(value)
    assert read_varint(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize("codec", list(Compression))
def test_decode_all_codecs(codec: Compression) -> None:
    batch = make_batch(
        values=[b"a", None, b"c" * 500],
        timestamps=[T0, T0 + 7, T0 + 3],
        base_offset=40,
        compression=codec,
    )
    assert decode_records(batch) == [
        Record(40, T0, b"k0", b"a", (("h", b"x"),)),
        Record(41, T0 + 7, b"k1", None, (("h", b"x"),)),
        Record(42, T0 + 3, b"k2", b"c" * 500, (("h", b"x"),)),
    ]


def test_decode_raw_snappy_without_xerial_framing() -> None:
    batch = make_batch(3, compression=Compression.SNAPPY, xerial=False)
    assert [r.offset for r in decode_records(batch)] == [0, 1, 2]


def test_log_append_time_gives_every_record_the_max_timestamp() -> None:
    batch = make_batch(3, timestamps=[T0, T0 + 5, T0 + 9], log_append_time=True)
    assert [r.timestamp for r in decode_records(batch)] == [T0 + 9] * 3
