"""The cluster tests' history checker on synthetic histories: each anomaly is found, and
counted once, and a clean history (with failures that may or may not have been written,
and producers interleaving in one partition) reports nothing."""

from __future__ import annotations

import pytest
from cluster.history import (
    NO_REPORT,
    HistoryReport,
    Send,
    Stored,
    check_history,
    parse_java_history,
    value_of,
)


def acked(producer: str, n: int, partition: int, offset: int) -> Send:
    return Send(producer, n, value_of(producer, n), partition, offset)


def failed(producer: str, n: int) -> Send:
    return Send(producer, n, value_of(producer, n), error="REQUEST_TIMED_OUT")


def stored(producer: str, n: int, partition: int, offset: int) -> Stored:
    return Stored(partition, offset, value_of(producer, n))


def counts(report: HistoryReport) -> tuple[int, int, int, int, int]:
    """(lost, duplicates, offsets with two values, reordered, unknown)."""
    return (
        report.lost,
        report.duplicates,
        report.offsets_with_two_values,
        report.reordered,
        report.unknown,
    )


def clean_history() -> tuple[list[Send], list[Stored]]:
    """Producers a and b interleave in partition 0; a's #2 failed but was written; b's #1
    failed and was not; a's #3 has no report at all (and was not written)."""
    history = [
        acked("a", 0, 0, 0),
        acked("a", 1, 1, 0),
        failed("a", 2),
        Send("a", 3, value_of("a", 3), error=NO_REPORT),
        acked("a", 4, 0, 3),
        acked("b", 0, 0, 1),
        failed("b", 1),
        acked("b", 2, 1, 1),
    ]
    log = [
        stored("a", 0, 0, 0),
        stored("b", 0, 0, 1),
        stored("a", 2, 0, 2),
        stored("a", 4, 0, 3),
        stored("a", 1, 1, 0),
        stored("b", 2, 1, 1),
    ]
    return history, log


def test_a_clean_history_reports_all_zero() -> None:
    history, log = clean_history()
    report = check_history(history, reversed(log))  # the read order does not matter
    assert counts(report) == (0, 0, 0, 0, 0)
    assert report.clean
    assert (report.sent, report.acked, report.read) == (8, 5, 6)
    assert report.examples == ()
    report.assert_clean()


def test_an_acked_value_missing_from_the_log_is_lost() -> None:
    history, log = clean_history()
    log.remove(stored("a", 4, 0, 3))
    report = check_history(history, log)
    assert counts(report) == (1, 0, 0, 0, 0)
    assert not report.clean
    assert report.examples == ("lost: b'a-4' acked at 0@3, read back at nowhere",)
    with pytest.raises(AssertionError, match="lost 1"):
        report.assert_clean()


def test_an_acked_value_read_back_at_another_offset_is_lost() -> None:
    history, log = clean_history()
    log[log.index(stored("a", 4, 0, 3))] = stored("a", 4, 0, 4)
    assert counts(check_history(history, log)) == (1, 0, 0, 0, 0)
    log[log.index(stored("a", 4, 0, 4))] = stored("a", 4, 2, 3)  # right offset, other partition
    assert counts(check_history(history, log)) == (1, 0, 0, 0, 0)


def test_a_value_read_back_twice_is_a_duplicate_and_nothing_else() -> None:
    history, log = clean_history()
    # A retried batch appended again instead of being recognised by its sequence number.
    log.append(stored("a", 0, 0, 4))
    report = check_history(history, log)
    assert counts(report) == (0, 1, 0, 0, 0)
    assert report.examples == ("duplicate: b'a-0' read back at [(0, 0), (0, 4)]",)


def test_a_failed_send_written_twice_is_a_duplicate_too() -> None:
    history, log = clean_history()
    log.append(stored("a", 2, 0, 4))
    assert counts(check_history(history, log)) == (0, 1, 0, 0, 0)


def test_two_values_acked_at_one_offset_are_reported() -> None:
    """Two leaders at once: both acked a record at 1@2; the log kept one of them."""
    history, log = clean_history()
    history += [acked("c", 0, 1, 2), acked("d", 0, 1, 2)]
    log.append(stored("c", 0, 1, 2))
    report = check_history(history, log)
    assert counts(report) == (1, 0, 1, 0, 0)  # one of the two is necessarily lost
    assert "two values: [b'c-0', b'd-0'] all acked at 1@2" in report.examples


def test_a_producer_read_back_out_of_send_order_in_a_partition_is_reordered() -> None:
    history, log = clean_history()
    history += [acked("c", 0, 2, 1), acked("c", 1, 2, 0), acked("c", 2, 2, 2)]
    log += [stored("c", 1, 2, 0), stored("c", 0, 2, 1), stored("c", 2, 2, 2)]
    report = check_history(history, log)
    assert counts(report) == (0, 0, 0, 1, 0)
    assert report.examples == ("reordered: b'c-0' (sent #0) at 2@1, after b'c-1' (sent #1)",)


def test_order_across_partitions_or_producers_is_not_reordering() -> None:
    history = [acked("a", 0, 1, 0), acked("a", 1, 0, 0), acked("b", 0, 0, 1), acked("a", 2, 0, 2)]
    log = [stored(s.producer, s.sequence, s.partition or 0, s.offset or 0) for s in history]
    assert counts(check_history(history, log)) == (0, 0, 0, 0, 0)


def test_a_value_nobody_sent_is_unknown() -> None:
    history, log = clean_history()
    log.append(Stored(2, 0, b"garbage"))
    report = check_history(history, log)
    assert counts(report) == (0, 0, 0, 0, 1)
    assert not report.clean


def test_a_history_sending_one_value_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="sent twice"):
        check_history([acked("a", 0, 0, 0), Send("b", 0, b"a-0", 0, 1)], [])


def test_java_report_lines_become_sends() -> None:
    stdout = (
        "ack java-1 2 7\n"
        "fail java-0 TimeoutException: Expiring 1 record(s) for t-0: 30001 ms has passed\n"
        "sent 3\n"
    )
    assert parse_java_history(stdout, "java") == [
        Send("java", 0, b"java-0", error="TimeoutException: Expiring 1 record(s) for t-0: "
             "30001 ms has passed"),
        Send("java", 1, b"java-1", 2, 7),
        Send("java", 2, b"java-2", error=NO_REPORT),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stdout", "complaint"),
    [
        ("ack java-0 0 0\n", "did not say how many"),
        ("ack java-5 0 0\nsent 1\n", "never sent"),
        ("hello\nsent 0\n", "unexpected line"),
    ],
)
def test_java_output_that_does_not_add_up_is_refused(stdout: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_java_history(stdout, "java")
