"""Ray worker nodes beside the head on this machine (``make up NODES=3``): separate
``ray start`` processes, as on separate machines, each with its own agent port.

Worker nodes offer ``names.WORKER_RESOURCE``; the head then offers none, so Serve
replicas, stock shards and the singletons (which ask for a sliver of it) live on
workers, as on a RayService whose head has ``num-cpus: 0``. Ray's own multi-node tests
start nodes the same way (``ray.cluster_utils.Cluster``).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from cluster import names
from cluster.local.procs import descendants, log, pids_matching, run, terminate, wait_until
from cluster.local.ray_head import WORKER_RESOURCES, RayHead, ray_bin
from cluster.settings import Settings

# Each worker is a whole node here; its CPUs only size Ray's task slots (actors ask 0).
_WORKER_CPUS = 2


class RayWorkerNode:
    """Worker node ``index`` (1-based; the head is node 0)."""

    def __init__(self, settings: Settings, index: int) -> None:
        assert 1 <= index < settings.ray_nodes
        self.settings = settings
        self.index = index
        self.head = RayHead(settings)
        self.log_file = Path(settings.state_dir) / "ray" / f"worker-{index}.log"

    @property
    def agent_port(self) -> int:
        """Also how Ray names the node: ``DashboardAgentListenPort`` in ``ray.nodes()``."""
        return self.settings.ray_agent_port + self.index

    def raylet_pid(self) -> int | None:
        pids = [
            p
            for p in pids_matching(f"--listen-port={self.agent_port}")
            if Path(f"/proc/{p}/comm").read_text().strip() == "raylet"
        ]
        return pids[0] if pids else None

    def start(self) -> None:
        if self.raylet_pid() is not None:
            return
        log(f"starting ray worker node {self.index}")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        out = run(
            [
                ray_bin("ray"),
                "start",
                f"--address=127.0.0.1:{self.settings.ray_port}",
                "--node-ip-address=127.0.0.1",
                f"--temp-dir={self.head.temp_dir}",
                f"--dashboard-agent-listen-port={self.agent_port}",
                f"--num-cpus={_WORKER_CPUS}",
                f"--resources={WORKER_RESOURCES}",
                "--object-store-memory=300000000",
                "--disable-usage-stats",
            ],
            env=self.head.ray_env(),
            timeout_s=180,
        )
        self.log_file.write_text(out)
        wait_until(lambda: self.raylet_pid() is not None, f"ray worker node {self.index}", 60)

    def kill(self) -> None:
        """SIGKILL the node's raylet and everything under it (its workers and agents),
        as a lost machine would: the GCS then finds the node dead."""
        raylet = self.raylet_pid()
        if raylet is None:
            return
        for pid in sorted({raylet} | descendants({raylet}), reverse=True):
            terminate(pid, timeout_s=10, sig=signal.SIGKILL)
        log(f"killed ray worker node {self.index}")


def worker_nodes(settings: Settings) -> list[RayWorkerNode]:
    return [RayWorkerNode(settings, i) for i in range(1, settings.ray_nodes)]


# Run in a child process: a driver's connection would outlive the report.
_PLACEMENT = """
import ray
from ray.util.state import list_actors
ray.init(address={address!r}, logging_level="error", log_to_driver=False)
node_names = {{}}
for n in ray.nodes():
    if n["Alive"]:
        index = n["DashboardAgentListenPort"] - {agent_port}
        node_names[n["NodeID"]] = "head" if index == 0 else f"worker {{index}}"
rows = []
for a in list_actors(address={address!r}, filters=[("state", "=", "ALIVE")], limit=10000):
    if a["ray_namespace"] in ({namespace!r}, "serve"):
        where = node_names.get(a["node_id"], a["node_id"][:8])
        rows.append((where, a["class_name"], a["name"] or ""))
print(f"nodes: {{', '.join(sorted(node_names.values()))}}")
for where, cls, name in sorted(rows):
    print(f"  {{where:9}} {{cls:38}} {{name}}")
"""


def placement(settings: Settings) -> str:
    """Which node each of flashsale's and Serve's actors runs on (``make status``)."""
    script = _PLACEMENT.format(
        address=settings.ray_address,
        agent_port=settings.ray_agent_port,
        namespace=names.NAMESPACE,
    )
    return run([sys.executable, "-c", script], timeout_s=120).rstrip()
