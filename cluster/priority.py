"""CPU priority for the work no buyer waits for.

On a few shared cores the order pipeline (relay, Kafka, sink) and Ray's own background
(dashboard, its agent, log monitor) competed with the purchase path at the same or a
better priority: Ray starts its workers, the replicas and shards among them, at nice 15
(``worker_niceness``), below the broker and the dashboard at 0. The local stack starts
workers at 0 instead (cluster/local/ray_head.py) and the background at
``FLASHSALE_BACKGROUND_NICE``: under a burst the kernel gives the purchase path the
cores first, and the pipeline catches up from the outboxes once the burst passes.
"""

from __future__ import annotations

import contextlib
import os


def lower_priority(nice: int, pid: int = 0) -> None:
    """Run process ``pid`` (0: this one) at ``nice`` or below its current priority;
    never raises it, which takes a privilege a container may not have. Every thread:
    on Linux a priority belongs to a thread (new threads take their creator's), and a
    Ray actor runs its work on threads besides the main one. A process or thread gone
    meanwhile is left alone."""
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid or 'self'}/task")]
    except OSError:
        threads = [pid]  # no /proc: the process as a whole, where that is what it means
    for tid in threads:
        with contextlib.suppress(OSError):  # gone, or not ours to lower
            if nice > os.getpriority(os.PRIO_PROCESS, tid):
                os.setpriority(os.PRIO_PROCESS, tid, nice)
