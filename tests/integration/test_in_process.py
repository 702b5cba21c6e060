"""The broker inside the test process: ``async with grete.Broker`` and the ``grete_broker`` fixture."""

from __future__ import annotations

import asyncio
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import grete
from grete.testing.broker_thread import BrokerThread


def test_grete_broker_fixture_serves_a_real_client(grete_broker: BrokerThread) -> None:
    producer = Producer({"bootstrap.servers": grete_broker.bootstrap_servers})
    producer.produce("fixture-topic", key=b"k", value=b"from the fixture")
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": grete_broker.bootstrap_servers, "group.id": "g",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("fixture-topic", 0, 0)])
    message = None
    for _ in range(20):
        message = consumer.poll(0.5)
        if message is not None:
            break
    consumer.close()
    assert message is not None and message.error() is None
    assert (message.key(), message.value(), message.offset()) == (b"k", b"from the fixture", 0)


async def test_async_with_broker(tmp_path: Path) -> None:
    async with grete.Broker(log_dirs=str(tmp_path), listeners="PLAINTEXT://127.0.0.1:0") as broker:
        host, port = broker.bootstrap_servers.split(":")
        assert host == "127.0.0.1" and int(port) > 0

        def admin_round_trip() -> set[str]:
            admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
            from confluent_kafka.admin import NewTopic

            admin.create_topics([NewTopic("in-process", 2, 1)])["in-process"].result(10)
            return set(admin.list_topics(timeout=10).topics)

        topics = await asyncio.get_running_loop().run_in_executor(None, admin_round_trip)
        assert "in-process" in topics
    # Stopped cleanly: Kafka's clean-shutdown marker and the metadata are on disk.
    assert (tmp_path / ".kafka_cleanshutdown").exists()
    assert (tmp_path / "in-process-1").is_dir()


def test_data_survives_an_in_process_restart(tmp_path: Path) -> None:
    with BrokerThread(tmp_path) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        for i in range(100):
            producer.produce("restart", value=b"%d" % i)
        assert producer.flush(10) == 0
    with BrokerThread(tmp_path) as broker:
        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "g"})
        low, high = consumer.get_watermark_offsets(TopicPartition("restart", 0), timeout=10)
        consumer.close()
    assert (low, high) == (0, 100)
