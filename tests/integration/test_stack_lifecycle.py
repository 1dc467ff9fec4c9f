"""The local stack: `up` on a running system changes nothing; each service stops and
starts again by itself (really: its process goes away and comes back)."""

import signal
import time

import pytest

from cluster.local import stack as local_stack
from cluster.local.procs import port_open
from cluster.settings import Settings
from tests.integration.conftest import owned


def pids(settings: Settings) -> dict[str, int | None]:
    return {s.name: s.pid() for s in local_stack.local_services(settings)}


@pytest.mark.timeout(120)
def test_up_again_changes_nothing_and_is_quick(stack: Settings) -> None:
    before = pids(stack)
    assert all(before.values()), before
    deployed = (local_stack.Path(stack.state_dir) / "serve" / "deployed.yaml").read_text()
    started = time.monotonic()
    health = local_stack.up(stack)
    elapsed = time.monotonic() - started
    assert pids(stack) == before
    assert (local_stack.Path(stack.state_dir) / "serve" / "deployed.yaml").read_text() == deployed
    assert health["status"] == "ok"
    # Generous bound for a noisy 2-core box; a cold start takes minutes, not seconds.
    assert elapsed < 20, f"a second `up` took {elapsed:.1f}s"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["redis", "mysql", "kafka"])
def test_service_stops_and_starts(stack: Settings, name: str) -> None:
    service = owned(stack, name)
    port = {"redis": stack.redis_port, "mysql": stack.mysql_port, "kafka": stack.kafka_port}[name]
    try:
        assert service.stop() is True
        assert service.pid() is None
        assert not port_open("127.0.0.1", port)
        assert local_stack.status(stack)[name] == "stopped"
        assert service.stop() is False  # stopping a stopped service is a no-op
    finally:
        service.start()
    assert service.pid() is not None
    assert service.healthy()
    assert local_stack.status(stack)[name] == "up"


@pytest.mark.timeout(400)
@pytest.mark.parametrize("gcs", ["running", "killed"])
def test_ray_stops_with_its_haproxy_and_comes_back(stack: Settings, gcs: str) -> None:
    """`ray stop` alone leaves Serve's HAProxy holding the HTTP port (docs/design.md);
    stopping our Ray must free every port so the next start can listen. With its GCS
    killed first, the head's other processes (raylet, agents, workers, HAProxy) wait
    for it: stopping must stop them too."""
    import ray

    from cluster.local.procs import pid_alive, pids_matching, terminate
    from cluster.local.ray_head import RayHead, healthz

    ray.shutdown()  # this process may be a driver of the cluster about to go away
    head = owned(stack, "ray")
    assert isinstance(head, RayHead)
    ports = [stack.http_port, stack.haproxy_stats_port, stack.haproxy_metrics_port, stack.ray_port]
    try:
        if gcs == "killed":
            gcs_pid = head.pid()
            assert gcs_pid is not None
            terminate(gcs_pid, sig=signal.SIGKILL)
            assert head.pid() is None and not pid_alive(gcs_pid)
            assert pids_matching(f"{head.temp_dir}/"), "the raylet and agents outlive the GCS"
        assert head.stop() is True
        assert pids_matching(f"{head.temp_dir}/") == []
        assert pids_matching(str(head.haproxy_dir)) == []
        assert [p for p in ports if port_open("127.0.0.1", p)] == []
        assert healthz(stack, timeout_s=1) is None
    finally:
        local_stack.up(stack)
    assert healthz(stack)["status"] == "ok"
