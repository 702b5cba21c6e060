"""A classic group member, and Kafka's protocol vote across members."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grete.coordinator.group.classic_types import ProtocolMetadata


@dataclass(slots=True)
class ClassicMember:
    """A member's mutable state inside a `ClassicGroup` (never handed out).

    `join_ticket` / `sync_ticket` are set while a JoinGroup / SyncGroup of this
    member waits; while either is set the session timeout does not apply (the
    rebalance timeout bounds the wait instead). `session_deadline_ms` is on the
    group's monotonic millisecond scale.
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    protocol_type: str
    protocols: tuple[ProtocolMetadata, ...]
    session_timeout_ms: int
    rebalance_timeout_ms: int
    session_deadline_ms: int
    assignment: bytes = b""
    join_ticket: int | None = None
    sync_ticket: int | None = None

    def metadata(self, protocol_name: str) -> bytes:
        for protocol in self.protocols:
            if protocol.name == protocol_name:
                return protocol.metadata
        return b""

    def protocol_names(self) -> list[str]:
        return [protocol.name for protocol in self.protocols]

    def matches(self, protocols: Sequence[ProtocolMetadata]) -> bool:
        """True if a rejoin with these protocols changes nothing (same names, order, bytes)."""
        return tuple(protocols) == self.protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's first choice among protocols every member supports."""
        for name in self.protocol_names():
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} supports none of {sorted(candidates)}")


def candidate_protocols(members: Iterable[ClassicMember]) -> set[str]:
    """Protocol names supported by every member."""
    candidates: set[str] | None = None
    for member in members:
        names = set(member.protocol_names())
        candidates = names if candidates is None else candidates & names
    return candidates or set()


def select_protocol(members: Sequence[ClassicMember]) -> str:
    """Kafka's vote: each member votes for its first candidate; most votes wins.

    Kafka breaks ties arbitrarily; here the tie goes to the protocol voted for
    first in member (join) order, so the choice is deterministic.
    """
    candidates = candidate_protocols(members)
    votes: dict[str, int] = {}
    for member in members:
        choice = member.vote(candidates)
        votes[choice] = votes.get(choice, 0) + 1
    if not votes:
        raise ValueError("no members to select a protocol for")
    return max(votes, key=lambda name: votes[name])  # max keeps the first of equal keys
