"""The controller against a real ZooKeeper: a deposed controller changes nothing.

A controller is deposed when a successor takes /controller and bumps /controller_epoch,
which is what follows when its session expired (a long pause, a network cut). The old
controller may not know yet: its client has not heard of the expiry, or its view still
shows it as controller. Every write it makes then must fail on the epoch check, and once
it sees the successor it must resign and stay out of the way.

Here the controller runs in-process (grete's ZkController with its ZkClusterView); the
brokers it sees are registrations written by the test, and the successor is the test
itself, writing what a successor writes, in one multi, so the old controller cannot
observe the one without the other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from harness import ZooKeeperProcess

from grete.cluster.zookeeper import paths
from grete.cluster.zookeeper.client import (
    CheckVersion,
    CreateOp,
    DeleteOp,
    SetDataOp,
    ZkClient,
)
from grete.cluster.zookeeper.controller import Deposed, ZkController
from grete.cluster.zookeeper.view import ZkClusterView
from grete.cluster.zookeeper.znodes import (
    BrokerRegistration,
    ControllerRegistration,
    EndPoint,
    PartitionState,
    ReplicaAssignment,
    TopicAssignment,
    decode_controller_epoch,
    encode_controller_epoch,
)

pytestmark = pytest.mark.cluster

WAIT = 10.0
OLD_ID, SUCCESSOR_ID = 1, 99
REPLICAS = (1, 2, 3)
# Long enough for several rounds of the old controller's duties (every 2 s, and on
# every change it sees): whatever it would do, it would have done by then.
QUIET = 5.0


@asynccontextmanager
async def zk_client(zookeeper: ZooKeeperProcess, chroot: str) -> AsyncIterator[ZkClient]:
    client = ZkClient(zookeeper.connect_string + chroot)
    await client.start(timeout_s=WAIT)
    try:
        yield client
    finally:
        await client.close()


async def eventually(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WAIT):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not true after {WAIT}s") from None


def registration(broker_id: int) -> bytes:
    return BrokerRegistration(
        broker_id, (EndPoint("PLAINTEXT", "127.0.0.1", 9000 + broker_id),)
    ).encode()


async def seed(world: ZkClient) -> None:
    """The persistent paths, and brokers 1-3 registered: ephemeral in the test's session,
    alive while it lasts."""
    for path in paths.PERSISTENT_PATHS:
        await world.ensure_path(path)
    for broker_id in REPLICAS:
        await world.create(paths.broker_id_path(broker_id), registration(broker_id), ephemeral=True)


async def state_of(zk: ZkClient, topic: str, partition: int) -> tuple[PartitionState, int]:
    found = await zk.get(paths.topic_partition_state_path(topic, partition))
    assert found is not None, f"{topic}-{partition} has no state"
    return PartitionState.decode(found[0]), found[1].version


async def controller_epoch(zk: ZkClient) -> tuple[int, int]:
    found = await zk.get(paths.CONTROLLER_EPOCH)
    assert found is not None
    return decode_controller_epoch(found[0]), found[1].version


@asynccontextmanager
async def running_controller(
    zk: ZkClient, broker_id: int
) -> AsyncIterator[tuple[ZkController, ZkClusterView]]:
    """A controller and the view it acts on, as a broker runs them."""
    controller: ZkController | None = None

    def changed(topics: set[str], brokers_changed: bool) -> None:
        if controller is not None:
            controller.on_metadata_change()

    view = ZkClusterView(zk, changed)
    controller = ZkController(zk, view, broker_id, auto_leader_rebalance=False)
    await view.start()
    await controller.start()
    try:
        yield controller, view
    finally:
        await controller.stop()
        await view.stop()


async def test_a_deposed_controller_that_still_believes_it_leads_changes_nothing(
    zookeeper: ZooKeeperProcess,
) -> None:
    chroot = f"/deposed-{uuid.uuid4().hex[:8]}"
    async with zk_client(zookeeper, chroot) as world, zk_client(zookeeper, chroot) as own:
        await seed(world)
        assignment = TopicAssignment(
            {0: ReplicaAssignment(REPLICAS), 1: ReplicaAssignment(REPLICAS)}
        )
        await world.create(paths.topic_path("kept"), assignment.encode())

        async with running_controller(own, OLD_ID) as (old, view):
            await eventually(lambda: old.active, "broker 1 is the controller")
            epoch, epoch_version = await controller_epoch(world)
            assert epoch == old.epoch
            await eventually(
                lambda: view.partition_state("kept", 1) is not None, "states initialized"
            )
            initial, _ = await state_of(world, "kept", 0)
            assert (initial.leader, initial.isr, initial.controller_epoch) == (1, REPLICAS, epoch)

            # Partition 0 is led by a replica that is not the preferred one (a leader's
            # own ISR-free hand-over would look the same): a preferred election is due.
            moved = PartitionState(2, initial.leader_epoch + 1, REPLICAS, epoch)
            await world.set(paths.topic_partition_state_path("kept", 0), moved.encode())
            await eventually(
                lambda: (s := view.partition_state("kept", 0)) is not None and s.state.leader == 2,
                "the controller sees the moved leader",
            )

            # A successor takes over, as after our session expired: /controller replaced and
            # the epoch bumped in one step.
            successor = ControllerRegistration(SUCCESSOR_ID).encode()
            await world.multi(
                [
                    CheckVersion(paths.CONTROLLER_EPOCH, epoch_version),
                    DeleteOp(paths.CONTROLLER),
                    CreateOp(paths.CONTROLLER, successor, ephemeral=True),
                    SetDataOp(paths.CONTROLLER_EPOCH, encode_controller_epoch(epoch + 1)),
                ]
            )
            # Then the world changes under it: a broker dies, a topic is marked for
            # deletion. A controller would shrink ISRs and delete the topic; it must not.
            states = {p: await state_of(world, "kept", p) for p in (0, 1)}
            await world.delete(paths.broker_id_path(3))
            await world.create(paths.delete_topic_path("kept"))
            await eventually(
                lambda: not view.is_alive(3), "the old controller's view lost broker 3"
            )
            await asyncio.sleep(QUIET)
            assert not old.active, "the deposed controller did not resign"
            assert {p: await state_of(world, "kept", p) for p in (0, 1)} == states
            assert await world.exists(paths.topic_path("kept")) is not None, (
                "a deposed controller deleted a topic"
            )
            assert await world.exists(paths.delete_topic_path("kept")) is not None

            # An election asked of it all the same (an admin client's stale metadata): its
            # write carries the old epoch and fails.
            with pytest.raises(Deposed):
                await old.elect_preferred_leaders([("kept", 0)])
            assert {p: await state_of(world, "kept", p) for p in (0, 1)} == states
            assert (await controller_epoch(world))[0] == epoch + 1, (
                "the deposed controller bumped the epoch"
            )
            found = await world.get(paths.CONTROLLER)
            assert (
                found is not None
                and ControllerRegistration.decode(found[0]).broker_id == SUCCESSOR_ID
            )


async def test_a_controller_whose_successor_leaves_takes_over_with_a_new_epoch(
    zookeeper: ZooKeeperProcess,
) -> None:
    """The counterpart: being deposed is not permanent. Once /controller is vacant again,
    the old controller is elected like any broker, with the next epoch, and does its duties."""
    chroot = f"/deposed-{uuid.uuid4().hex[:8]}"
    async with zk_client(zookeeper, chroot) as world, zk_client(zookeeper, chroot) as own:
        await seed(world)
        async with running_controller(own, OLD_ID) as (old, view):
            await eventually(lambda: old.active, "broker 1 is the controller")
            epoch, epoch_version = await controller_epoch(world)
            await world.multi(
                [
                    CheckVersion(paths.CONTROLLER_EPOCH, epoch_version),
                    DeleteOp(paths.CONTROLLER),
                    CreateOp(
                        paths.CONTROLLER,
                        ControllerRegistration(SUCCESSOR_ID).encode(),
                        ephemeral=True,
                    ),
                    SetDataOp(paths.CONTROLLER_EPOCH, encode_controller_epoch(epoch + 1)),
                ]
            )
            await eventually(lambda: not old.active, "the deposed controller resigned")

            await world.delete(paths.CONTROLLER)  # the successor leaves
            await eventually(lambda: old.active, "broker 1 is the controller again")
            assert (await controller_epoch(world))[0] == epoch + 2 == old.epoch
            assignment = TopicAssignment({0: ReplicaAssignment(REPLICAS)})
            await world.create(paths.topic_path("later"), assignment.encode())
            await eventually(
                lambda: view.partition_state("later", 0) is not None, "the new topic's state"
            )
            state, _ = await state_of(world, "later", 0)
            assert state.controller_epoch == epoch + 2


async def test_stop_ends_a_controller_woken_in_the_same_loop_iteration(
    zookeeper: ZooKeeperProcess,
) -> None:
    """A metadata change wakes the controller in the iteration that stops it. Python
    3.11's asyncio.wait_for returns normally when a cancellation meets such a wake-up:
    the controller kept serving and stop() waited for it forever (a CI run hung in the
    teardown of the test above)."""
    chroot = f"/stop-{uuid.uuid4().hex[:8]}"
    async with zk_client(zookeeper, chroot) as world, zk_client(zookeeper, chroot) as own:
        await seed(world)
        view = ZkClusterView(own, lambda topics, brokers: None)
        controller = ZkController(own, view, OLD_ID, auto_leader_rebalance=False)
        await view.start()
        await controller.start()
        try:
            await eventually(lambda: controller.active, "broker 1 is the controller")
            await asyncio.sleep(0.5)  # its duties done: it waits to be woken
            task = controller._task
            assert task is not None
            controller.on_metadata_change()
            started = asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(WAIT):
                    await controller.stop()
            except TimeoutError:
                raise AssertionError(f"stop() did not end the controller in {WAIT}s") from None
            took = asyncio.get_running_loop().time() - started
            assert task.done() and took < 2.0, f"stop() took {took:.1f}s"
        finally:
            await view.stop()
