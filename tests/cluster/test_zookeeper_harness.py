"""The ZooKeeper harness and the ZooKeeper behaviour cluster mode builds on, on a real server.

Broker liveness is an ephemeral /brokers/ids/<id> that lives exactly as long as the
broker's session; fencing is a conditional write that fails once someone else wrote first;
metadata must outlive a ZooKeeper restart or crash. Each is checked here with kazoo and
the znode formats of grete.cluster.zookeeper.
"""

from __future__ import annotations

import uuid

import pytest
from harness import ZooKeeperProcess
from kazoo.exceptions import BadVersionError, NodeExistsError
from kazoo.protocol.states import KazooState

from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.znodes import (
    BrokerRegistration,
    ClusterId,
    ControllerRegistration,
    EndPoint,
    PartitionState,
    ReplicaAssignment,
    TopicAssignment,
    decode_controller_epoch,
    encode_controller_epoch,
)

from . import kazoo_client, wait_until


def registration(broker_id: int, port: int) -> BrokerRegistration:
    return BrokerRegistration(
        broker_id, (EndPoint("PLAINTEXT", "127.0.0.1", port),), timestamp_ms=1_700_000_000_000
    )


def test_ephemeral_broker_registration_lives_as_long_as_its_session(
    zookeeper: ZooKeeperProcess,
) -> None:
    path = paths.broker_id_path(0)
    with kazoo_client(zookeeper) as observer:
        with kazoo_client(zookeeper) as broker:
            broker.ensure_path(paths.BROKER_IDS)
            broker.create(path, registration(0, 9092).encode(), ephemeral=True)

            data, stat = observer.get(path)
            assert BrokerRegistration.decode(0, data) == registration(0, 9092)
            assert stat.ephemeralOwner == broker.client_id[0]
            # A second broker claiming the same id while the first lives is refused.
            with kazoo_client(zookeeper) as rival, pytest.raises(NodeExistsError):
                rival.create(path, registration(0, 9093).encode(), ephemeral=True)
        # Closing the session (a clean broker shutdown) deletes its ephemeral znodes.
        wait_until(lambda: observer.exists(path) is None, f"{path} deleted with its session")
        assert observer.get_children(paths.BROKER_IDS) == []
        # The id is free again for the next broker.
        with kazoo_client(zookeeper) as successor:
            successor.create(path, registration(0, 9094).encode(), ephemeral=True)
            data, _ = observer.get(path)
            assert BrokerRegistration.decode(0, data).endpoints[0].port == 9094


def test_conditional_write_with_a_stale_version_is_fenced(zookeeper: ZooKeeperProcess) -> None:
    """Two controllers read the same partition state; the second writer holds a stale
    zkVersion and its write must fail without changing the znode."""
    path = paths.topic_partition_state_path("fenced", 0)
    initial = PartitionState(leader=1, leader_epoch=0, isr=(1, 2), controller_epoch=1)
    with kazoo_client(zookeeper) as first, kazoo_client(zookeeper) as second:
        first.create(path, initial.encode(), makepath=True)
        _, seen_by_first = first.get(path)
        _, seen_by_second = second.get(path)
        assert seen_by_first.version == seen_by_second.version == 0

        shrunk = PartitionState(leader=1, leader_epoch=0, isr=(1,), controller_epoch=1)
        assert first.set(path, shrunk.encode(), version=seen_by_first.version).version == 1

        stale = PartitionState(leader=2, leader_epoch=1, isr=(2,), controller_epoch=1)
        with pytest.raises(BadVersionError):
            second.set(path, stale.encode(), version=seen_by_second.version)

        data, stat = second.get(path)
        assert (PartitionState.decode(data), stat.version) == (shrunk, 1)

        # The same guard on /controller_epoch: only one of two would-be controllers bumps it.
        first.create(paths.CONTROLLER_EPOCH, encode_controller_epoch(1))
        _, epoch_stat = first.get(paths.CONTROLLER_EPOCH)
        first.set(paths.CONTROLLER_EPOCH, encode_controller_epoch(2), version=epoch_stat.version)
        with pytest.raises(BadVersionError):
            second.set(
                paths.CONTROLLER_EPOCH, encode_controller_epoch(2), version=epoch_stat.version
            )
        assert decode_controller_epoch(second.get(paths.CONTROLLER_EPOCH)[0]) == 2


# How long a client may take to find a restarted server: one connect handshake that the
# server never answers (a third of the 10 s session; see kazoo_client), a retry, and room
# for a loaded machine.
RECONNECT = 15.0


def test_restart_keeps_persistent_znodes_and_clients_reconnect(
    zookeeper: ZooKeeperProcess,
) -> None:
    topic = TopicAssignment(
        {0: ReplicaAssignment((0, 1)), 1: ReplicaAssignment((1, 0))}, uuid.uuid4()
    )
    cluster_id = ClusterId("kY1WvZkQT0mJ3yq6aH0k9w")
    port, pid = zookeeper.port, zookeeper.pid
    with kazoo_client(zookeeper) as client:
        client.create(paths.CLUSTER_ID, cluster_id.encode(), makepath=True)
        client.create(paths.topic_path("kept"), topic.encode(), makepath=True)
        client.create(paths.CONTROLLER, ControllerRegistration(0, 1).encode(), ephemeral=True)

        zookeeper.restart(check=True)  # SIGTERM, then start on the same port and data dir
        assert (zookeeper.port, zookeeper.running) == (port, True)
        assert zookeeper.pid != pid

        # The same client finds the server again at the same connect string.
        wait_until(lambda: client.state == KazooState.CONNECTED, "client reconnected", RECONNECT)
        assert ClusterId.decode(client.get(paths.CLUSTER_ID)[0]) == cluster_id
        assert TopicAssignment.decode(client.get(paths.topic_path("kept"))[0]) == topic
        # ZooKeeper persists sessions: one that reconnects within its timeout keeps its
        # ephemerals, so a short ZooKeeper restart does not unregister live brokers.
        data, stat = client.get(paths.CONTROLLER)
        assert ControllerRegistration.decode(data).broker_id == 0
        assert stat.ephemeralOwner == client.client_id[0]

    # A crash (SIGKILL) loses no acknowledged write either.
    with kazoo_client(zookeeper) as client:
        client.create(paths.delete_topic_path("kept"), b"", makepath=True)
        zookeeper.kill()
        zookeeper.start()
        wait_until(
            lambda: client.state == KazooState.CONNECTED, "client reconnected after kill", RECONNECT
        )
        assert client.exists(paths.delete_topic_path("kept")) is not None
        assert TopicAssignment.decode(client.get(paths.topic_path("kept"))[0]) == topic


def test_paused_server_answers_nothing_until_resumed(zookeeper: ZooKeeperProcess) -> None:
    assert zookeeper.four_letter_word("ruok") == "imok"
    zookeeper.pause()
    try:
        with pytest.raises(OSError):
            zookeeper.four_letter_word("ruok", timeout=0.5)
        assert zookeeper.running  # stopped, not dead
    finally:
        zookeeper.resume()
    assert zookeeper.four_letter_word("ruok") == "imok"
