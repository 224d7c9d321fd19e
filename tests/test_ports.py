"""The ports the tests' servers get (testing/ports.py): below the kernel's ephemeral range,
one range per test process, never one already in use, never the same twice in a row."""

from __future__ import annotations

import socket

import pytest

from testing import ports


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_cursor", [])


def _ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        return int(f.read().split()[0])


@pytest.mark.parametrize("worker", ["gw0", "gw1", "gw7", ""])
def test_each_test_process_has_its_own_range_below_the_ephemeral_ports(
    monkeypatch: pytest.MonkeyPatch, fresh: None, worker: str
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    index = int(worker[2:]) if worker else 0
    got = ports.free_ports(20)
    assert len(set(got)) == 20
    first = ports.LOW + index * ports.SPAN
    assert all(first <= p < first + ports.SPAN for p in got)
    assert ports.LOW + ports.RANGES * ports.SPAN <= _ephemeral_low()


def test_a_port_in_use_is_skipped_and_none_repeats(
    monkeypatch: pytest.MonkeyPatch, fresh: None
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    first = ports.LOW + 2 * ports.SPAN
    start = ports.free_port()  # where this process's cursor starts
    busy = first + (start - first + 1) % ports.SPAN  # the next one it would give
    with socket.socket() as held:
        held.bind(("127.0.0.1", busy))
        held.listen()
        following = ports.free_port()
    assert following != busy
    handed = [start, following, *ports.free_ports(50)]
    assert len(set(handed)) == len(handed)


def test_a_full_range_is_said(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    monkeypatch.setattr(ports, "SPAN", 3)
    monkeypatch.setattr(ports, "_is_free", lambda port: False)
    with pytest.raises(OSError, match="no 1 free ports between"):
        ports.free_port()
