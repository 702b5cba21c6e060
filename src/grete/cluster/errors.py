"""Failures of the cluster's metadata store that request handlers must answer, not crash on."""

from __future__ import annotations


class CoordinationUnavailable(Exception):
    """The metadata store (ZooKeeper in a cluster) did not answer in time, or the session
    ended while waiting: the request's effect is unknown and the client should retry.
    Handlers answer REQUEST_TIMED_OUT (or the API's retriable equivalent), as a Kafka
    broker does while its ZooKeeper client reconnects."""
