"""cluster/priority.py: every thread lowered, never raised (in a process of its own:
a lowered priority cannot be undone without a privilege)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, os, threading
from cluster.priority import lower_priority

started, done, tids = threading.Event(), threading.Event(), []

def idle():
    tids.append(threading.get_native_id())
    started.set()
    done.wait(10)

helper = threading.Thread(target=idle)
helper.start()
started.wait(10)
nice = lambda tid: os.getpriority(os.PRIO_PROCESS, tid)
me = threading.get_native_id()
lower_priority(5)
after = [nice(me), nice(tids[0])]
lower_priority(1)  # below where it already is: left alone
again = [nice(me), nice(tids[0])]
done.set()
helper.join()
print(json.dumps({"after": after, "again": again}))
"""


def test_every_thread_is_lowered_and_never_raised() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    found = json.loads(done.stdout)
    assert min(found["after"]) >= 5, found
    assert found["again"] == found["after"], found
