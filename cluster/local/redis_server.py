"""Redis from Debian's redis-server, on loopback, with AOF on: the shop's (checkpoints,
outboxes, timers) and, apart from it, Ray's GCS's (its tables, for GCS fault tolerance)."""

from __future__ import annotations

from cluster.local.installs import which
from cluster.local.procs import port_open, spawn
from cluster.local.service import LocalService


class RedisServer(LocalService):
    name = "redis"
    # appendfsync always: written and fsynced before the reply, so nothing Redis
    # acknowledged is lost, not to a killed redis-server, not to a machine crash.
    # ("everysec" lost an acknowledged write to a SIGKILL here: while a background
    # fsync is slow, Redis postpones writing the AOF for up to 2 s but replies.)
    # Redis fsyncs once per event-loop turn, for every command of that turn, and
    # the shards group-commit, so the cost is per round trip, not per purchase.
    appendfsync = "always"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def healthy(self) -> bool:
        import redis  # local: the bring-up CLI should not pay for it elsewhere

        if not port_open("127.0.0.1", self.port):
            return False
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _launch(self) -> None:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.home / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {data}",
                    "appendonly yes",
                    f"appendfsync {self.appendfsync}",
                    'save ""',
                    "maxclients 10000",
                    "",
                ]
            )
        )
        spawn(
            [which("redis-server") or "redis-server", str(conf)],
            pid_file=self.pid_file,
            log_file=self.log_file,
        )


class GcsRedisServer(RedisServer):
    """The GCS's tables, so that a GCS that dies comes back with the cluster it had (as
    KubeRay's ``gcsFaultToleranceOptions`` gives the head on Kubernetes). Its own
    server, not the shop's: the drills stop and hang that one, and a GCS that loses its
    Redis takes the cluster down. A lost second of GCS writes is recoverable (Ray's
    own guidance runs it with everysec), so it does not pay for fsync on every write."""

    name = "redis-gcs"
    appendfsync = "everysec"

    @property
    def port(self) -> int:
        return int(self.settings.gcs_redis_address.rsplit(":", 1)[1])
