"""The embedded metadata store of a single-node broker.

Holds the cluster id, topics (id, partition count, config overrides) and the
producer-id allocator's high mark, persisted in the log directory as one JSON
document written atomically (tmp file, fsync, rename, fsync dir). It is small
and changes only on admin operations, so rewriting it whole is cheap.

Not thread-safe; called only from the event loop.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

METADATA_FILE = "grete-metadata.json"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    topic_id: uuid.UUID
    partitions: int
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)
    internal: bool = False


class MetadataStore:
    def __init__(self, path: Path, cluster_id: str, topics: dict[str, TopicMetadata], next_producer_id: int) -> None:
        self._path = path
        self.cluster_id = cluster_id
        self._topics = topics
        self._by_id = {t.topic_id: t for t in topics.values()}
        self._next_producer_id = next_producer_id
        self.version = 0  # bumped on every change; lets caches notice

    @classmethod
    def open(cls, log_dir: Path, cluster_id: str | None = None) -> MetadataStore:
        path = log_dir / METADATA_FILE
        if not path.exists():
            store = cls(path, cluster_id or new_cluster_id(), {}, 0)
            store._persist()
            return store
        doc = json.loads(path.read_text("utf-8"))
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported metadata format {doc.get('version')!r}")
        if cluster_id is not None and cluster_id != doc["cluster_id"]:
            raise ValueError(
                f"cluster.id {cluster_id!r} does not match {doc['cluster_id']!r} stored in {path}"
            )
        topics = {
            t["name"]: TopicMetadata(
                name=t["name"],
                topic_id=uuid.UUID(t["topic_id"]),
                partitions=int(t["partitions"]),
                replication_factor=int(t.get("replication_factor", 1)),
                configs=dict(t.get("configs", {})),
                internal=bool(t.get("internal", False)),
            )
            for t in doc["topics"]
        }
        return cls(path, doc["cluster_id"], topics, int(doc.get("next_producer_id", 0)))

    # -- queries ---------------------------------------------------------------------------

    def topic(self, name: str) -> TopicMetadata | None:
        return self._topics.get(name)

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicMetadata | None:
        return self._by_id.get(topic_id)

    def topics(self) -> Iterator[TopicMetadata]:
        return iter(list(self._topics.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._topics

    # -- changes ---------------------------------------------------------------------------

    def put_topic(self, topic: TopicMetadata) -> None:
        old = self._topics.get(topic.name)
        if old is not None:
            self._by_id.pop(old.topic_id, None)
        self._topics[topic.name] = topic
        self._by_id[topic.topic_id] = topic
        self._persist()

    def remove_topic(self, name: str) -> TopicMetadata | None:
        topic = self._topics.pop(name, None)
        if topic is not None:
            self._by_id.pop(topic.topic_id, None)
            self._persist()
        return topic

    def update_topic(self, name: str, **changes: object) -> TopicMetadata:
        topic = replace(self._topics[name], **changes)  # type: ignore[arg-type]
        self.put_topic(topic)
        return topic

    def allocate_producer_ids(self, count: int) -> int:
        """Reserve ``count`` producer ids durably; returns the first one."""
        first = self._next_producer_id
        self._next_producer_id += count
        self._persist()
        return first

    def _persist(self) -> None:
        self.version += 1
        doc = {
            "version": FORMAT_VERSION,
            "cluster_id": self.cluster_id,
            "next_producer_id": self._next_producer_id,
            "topics": [
                {
                    "name": t.name,
                    "topic_id": str(t.topic_id),
                    "partitions": t.partitions,
                    "replication_factor": t.replication_factor,
                    "configs": dict(t.configs),
                    "internal": t.internal,
                }
                for t in self._topics.values()
            ],
        }
        write_atomically(self._path, json.dumps(doc, indent=1, sort_keys=True).encode())


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding.
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def new_topic_id() -> uuid.UUID:
    while True:
        topic_id = uuid.uuid4()
        # Kafka reserves the zero UUID and the "metadata topic" id 1.
        if topic_id.int > 1:
            return topic_id
