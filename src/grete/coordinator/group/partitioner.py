"""Which ``__consumer_offsets`` partition owns a group, computed exactly as Kafka does."""

from __future__ import annotations


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode()``: s[0]*31^(n-1) + ... over UTF-16 code units, as a signed int32."""
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")  # non-BMP characters become surrogate pairs
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """``Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions``.

    Kafka's ``Utils.abs`` is ``n & 0x7fffffff`` (so Integer.MIN_VALUE maps to 0, not to itself).
    """
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    return (java_string_hash(group_id) & 0x7FFFFFFF) % num_partitions
