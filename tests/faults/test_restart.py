"""Topic metadata across restarts: names, partition counts, topic ids, configs, the on-disk
layout Kafka tools expect, and deletions that stay deleted."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

from integration.raw_kafka import RawKafka

from grete.protocol import ApiKey, ErrorCode

from . import (
    DELETE_TOPICS_V,
    ZERO_UUID,
    create_topic,
    delete_topic,
    list_offset,
    metadata,
    numbered_batch,
    produce,
    produce_ok,
    read_checkpoint,
    send_request,
    topic_configs,
)

DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs config_source of a topic override
ALPHA_CONFIGS = {"retention.ms": "123456789", "max.message.bytes": "5000", "cleanup.policy": "compact"}
SEGMENT_FILES = ("00000000000000000000.log", "00000000000000000000.index",
                 "00000000000000000000.timeindex", "partition.metadata")


def _topics(raw: RawKafka) -> dict[str, tuple[uuid.UUID, list[int]]]:
    """Every topic Metadata v12 lists: name -> (topic id, partition indexes)."""
    response = metadata(raw)
    found = {}
    for t in response.topics:
        assert t.error_code == ErrorCode.none, t
        found[t.name] = (t.topic_id, sorted(p.partition_index for p in t.partitions))
    return found


def _overrides(raw: RawKafka, topic: str) -> dict[str, str | None]:
    return {k: v for k, (v, source) in topic_configs(raw, topic).items()
            if source == DYNAMIC_TOPIC_CONFIG}


def _properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _partition_dirs(data: Path, topic: str) -> list[str]:
    """Every directory of ``topic`` (including ones renamed for deletion)."""
    return sorted(p.name for p in data.iterdir() if p.is_dir() and p.name.startswith(f"{topic}-"))


def _assert_layout(data: Path, topics: dict[str, tuple[uuid.UUID, list[int]]]) -> None:
    for name, (topic_id, partitions) in topics.items():
        assert _partition_dirs(data, name) == sorted(f"{name}-{p}" for p in partitions)
        kafka_id = base64.urlsafe_b64encode(topic_id.bytes).decode().rstrip("=")
        for p in partitions:
            partition_dir = data / f"{name}-{p}"
            assert set(SEGMENT_FILES) <= {f.name for f in partition_dir.iterdir()}, partition_dir
            meta = dict(line.split(": ", 1) for line in
                        (partition_dir / "partition.metadata").read_text().splitlines())
            assert meta == {"version": "0", "topic_id": kafka_id}, partition_dir


def test_topics_ids_configs_and_deletions_survive_restarts(broker) -> None:  # type: ignore[no-untyped-def]
    data = broker.data_dir
    with RawKafka(broker.bootstrap) as raw:
        create_topic(raw, "alpha", 3, ALPHA_CONFIGS)
        create_topic(raw, "beta", 1)
        create_topic(raw, "gamma", 2)
        assert produce_ok(raw, "alpha", 1, numbered_batch("alpha", 1, 0, 4)) == 0
        assert produce_ok(raw, "gamma", 0, numbered_batch("gamma", 0, 0, 7)) == 0
        cluster_id = metadata(raw).cluster_id
        old_gamma_id = _topics(raw)["gamma"][0]
        delete_topic(raw, "gamma")
        before = _topics(raw)
        assert set(before) == {"alpha", "beta"}
        assert [len(before[t][1]) for t in ("alpha", "beta")] == [3, 1]
        assert _overrides(raw, "alpha") == ALPHA_CONFIGS
        assert _overrides(raw, "beta") == {}
    deadline = time.monotonic() + 5
    while _partition_dirs(data, "gamma") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _partition_dirs(data, "gamma") == []
    _assert_layout(data, before)
    meta_properties = _properties(data / "meta.properties")
    assert meta_properties["cluster.id"] == cluster_id
    assert meta_properties["node.id"] == "0"

    for restart in ("sigterm", "sigkill"):
        if restart == "sigterm":
            broker.stop(check=True)
            # Deleted partitions are gone from the checkpoints too.
            partitions = {("alpha", 0), ("alpha", 1), ("alpha", 2), ("beta", 0)}
            assert read_checkpoint(data / "recovery-point-offset-checkpoint").keys() == partitions
            assert read_checkpoint(data / "log-start-offset-checkpoint").keys() == partitions
        else:
            broker.kill()
        broker.start()
        with RawKafka(broker.bootstrap) as raw:
            assert _topics(raw) == before, f"topics changed across a {restart} restart"
            assert metadata(raw).cluster_id == cluster_id
            gone = metadata(raw, ["gamma"]).topics[0]
            assert gone.error_code == ErrorCode.unknown_topic_or_partition, f"after {restart}"
            assert _overrides(raw, "alpha") == ALPHA_CONFIGS
            assert list_offset(raw, "alpha", 1) == 4
            # The max.message.bytes override still applies, not only shows.
            big = produce(raw, "alpha", 2, numbered_batch("alpha", 2, 0, 200))
            assert big.error_code == ErrorCode.message_too_large, f"after {restart}"
        assert _partition_dirs(data, "gamma") == []
        _assert_layout(data, before)
        assert _properties(data / "meta.properties") == meta_properties

    with RawKafka(broker.bootstrap) as raw:
        # A topic created again under a deleted name is a new topic, with none of the old data.
        create_topic(raw, "gamma", 1)
        assert _topics(raw)["gamma"][0] != old_gamma_id
        assert list_offset(raw, "gamma", 0) == 0


DOOMED_PARTITIONS = 120  # deleting this many takes long enough to kill the broker mid-way


def test_topic_killed_mid_deletion_does_not_come_back_with_its_data(broker) -> None:  # type: ignore[no-untyped-def]
    data, last = broker.data_dir, DOOMED_PARTITIONS - 1
    with RawKafka(broker.bootstrap, timeout=60) as raw:
        create_topic(raw, "doomed", DOOMED_PARTITIONS)
        assert produce_ok(raw, "doomed", last, numbered_batch("doomed", last, 0, 7)) == 0
        old_id = _topics(raw)["doomed"][0]
        # Send DeleteTopics and, without waiting for the answer, kill the broker as soon as
        # the first partition directory is gone (partitions are removed in index order).
        state = raw.make(ApiKey.DELETE_TOPICS, DELETE_TOPICS_V, "DeleteTopicState",
                         name="doomed", topic_id=ZERO_UUID)
        send_request(raw, ApiKey.DELETE_TOPICS, DELETE_TOPICS_V, 1, topics=[state], timeout=30000)
        deadline = time.monotonic() + 20
        while (data / "doomed-0").exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        broker.kill()
    assert not (data / "doomed-0").exists(), "deletion never started"
    assert (data / f"doomed-{last}").exists(), "deletion finished before the kill"

    broker.start()
    with RawKafka(broker.bootstrap, timeout=60) as raw:
        # The deletion was durable (the metadata says so); the topic is gone...
        assert metadata(raw, ["doomed"]).topics[0].error_code == ErrorCode.unknown_topic_or_partition
        # ...and a new topic of that name starts empty, as in Kafka (its topic id differs).
        create_topic(raw, "doomed", DOOMED_PARTITIONS)
        assert _topics(raw)["doomed"][0] != old_id
        assert list_offset(raw, "doomed", last) == 0, "the deleted topic's records came back"
