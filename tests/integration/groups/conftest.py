"""Fixtures for the consumer-group suite.

group_broker      a fresh broker whose new groups rebalance at once
                  (group.initial.rebalance.delay.ms=0 on Grete; Tansu takes no such flag)
group_member      the compiled tests/compat/java/GreteGroupMember program, as a JavaProgram
group_id          a group id unique to this test and this run
"""

from __future__ import annotations

import uuid

import pytest
from harness import JavaProgram, ServerProcess, compile_java
from harness.java import JAVA_SOURCE_DIR

from .helpers import fast_group_args


@pytest.fixture
def group_broker(broker_factory) -> ServerProcess:  # type: ignore[no-untyped-def]
    return broker_factory(*fast_group_args(), name="grete")


@pytest.fixture(scope="session")
def group_member(tmp_path_factory: pytest.TempPathFactory) -> JavaProgram:
    try:
        return compile_java(
            JAVA_SOURCE_DIR / "GreteGroupMember.java", tmp_path_factory.mktemp("java-group")
        )
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def group_id(topic_name: str) -> str:
    return f"group-{topic_name}-{uuid.uuid4().hex[:6]}"
