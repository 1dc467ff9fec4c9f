"""`make up` runs the purchase path first and the background behind it (cluster/priority.py):
every thread of the replicas and HAProxy at nice 0 (Ray's default would be 15), every
thread of the relay, the sink, the Kafka broker and Ray's dashboard agent at
FLASHSALE_BACKGROUND_NICE or lower."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cluster.local.procs import pids_matching
from cluster.settings import Settings
from tests.integration.conftest import owned


def thread_nices(pid: int) -> set[int]:
    found = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            found.add(os.getpriority(os.PRIO_PROCESS, int(tid)))
        except OSError:
            pass  # a thread that ended meanwhile
    return found


def titled(prefix: str) -> list[int]:
    """Pids whose process title starts with ``prefix`` (Ray's workers rename themselves)."""
    return [
        pid
        for pid in pids_matching(prefix)
        if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(prefix.encode())
    ]


@pytest.mark.timeout(60)
def test_the_purchase_path_runs_first_and_the_background_behind_it(stack: Settings) -> None:
    nice = stack.background_nice
    if nice == 0 or "RAY_ADDRESS" in stack.given:
        pytest.skip("priorities are this machine's only when the stack is local and nice > 0")
    kafka = owned(stack, "kafka").pid()
    assert kafka is not None
    background = {
        "kafka": [kafka],
        "relay": titled("ray::OrderPublisher"),
        "sink": titled("ray::OrderSink"),
        "dashboard agent": titled("ray::DashboardAgent"),
    }
    front = {
        "replica": titled("ray::ServeReplica:flashsale"),
        "haproxy": pids_matching("haproxy -db"),
    }
    for name, pids in {**background, **front}.items():
        assert pids, f"no {name} process found"
    lowered = {name: set().union(*map(thread_nices, pids)) for name, pids in background.items()}
    assert all(min(n) >= nice for n in lowered.values()), lowered
    first = {name: set().union(*map(thread_nices, pids)) for name, pids in front.items()}
    assert all(n == {0} for n in first.values()), first
