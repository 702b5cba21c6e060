"""DescribeLogDirs on a real broker: each partition's real size, and Grete's segment count
only for a client that asks for it (a plain kio client refuses unknown tags, so merely
decoding the plain answers proves none was sent)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from harness import ServerProcess

from grete.protocol import ApiKey, ErrorCode, RequestHeader
from grete.protocol.codec import encode_request
from grete.protocol.log_dirs import decode_response, describe_request

from .raw_kafka import RawKafka


def partitions_of(response: Any) -> dict[tuple[str, int], Any]:
    (result,) = response.results
    assert result.error_code == ErrorCode.none
    return {(t.name, p.partition_index): p for t in result.topics for p in t.partitions}


def test_sizes_for_everyone_and_segment_counts_when_asked(
    broker: ServerProcess, topic_name: str
) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    new = NewTopic(topic_name, 2, 1, config={"segment.bytes": "1024"})
    admin.create_topics([new], request_timeout=15)[topic_name].result(timeout=15)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "batch.size": 600})
    for i in range(200):
        producer.produce(topic_name, b"x" * 50, partition=0)
    assert producer.flush(30) == 0
    folders = [broker.data_dir / f"{topic_name}-{p}" for p in (0, 1)]
    on_disk = [sum(f.stat().st_size for f in folder.glob("*.log")) for folder in folders]
    segments = [len(list(folder.glob("*.log"))) for folder in folders]
    assert segments[0] > 3 and (on_disk[1], segments[1]) == (0, 1)

    with RawKafka(broker.bootstrap) as raw:
        for version in (1, 2, 3, 4):
            topic = raw.make(
                ApiKey.DESCRIBE_LOG_DIRS,
                version,
                "DescribableLogDirTopic",
                topic=topic_name,
                partitions=[0, 1],
            )
            plain = partitions_of(raw.request(ApiKey.DESCRIBE_LOG_DIRS, version, topics=[topic]))
            assert [plain[(topic_name, p)].partition_size for p in (0, 1)] == on_disk
            assert not hasattr(plain[(topic_name, 0)], "segment_count")
        for version in (2, 3, 4):
            request = describe_request(version, {topic_name: [0, 1]})
            header = RequestHeader(ApiKey.DESCRIBE_LOG_DIRS, version, 100 + version, "raw-test")
            raw.send_raw(encode_request(header, request))
            extended = partitions_of(decode_response(raw.read_frame(), version))
            assert [extended[(topic_name, p)].partition_size for p in (0, 1)] == on_disk
            assert [extended[(topic_name, p)].segment_count for p in (0, 1)] == segments
