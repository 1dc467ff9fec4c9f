"""The whole local stack: which services to run here, in what order, and their state.

A service whose address is given in the environment (``REDIS_URL``, ``MYSQL_DSN``,
``KAFKA_BOOTSTRAP``, ``RAY_ADDRESS``, ``PROMETHEUS_URL``) is used as it is and never
started or stopped here.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from cluster.local.env import write_env_file
from cluster.local.installs import ensure_apt_packages
from cluster.local.kafka import KafkaBroker, ensure_topics
from cluster.local.mariadb import MariaDB
from cluster.local.procs import log
from cluster.local.prometheus import PrometheusServer
from cluster.local.ray_head import RayHead, deploy_serve, wait_healthy
from cluster.local.ray_workers import worker_nodes
from cluster.local.redis_server import GcsRedisServer, RedisServer
from cluster.local.service import LocalService
from cluster.migrate import apply_migrations
from cluster.settings import Settings

SERVICES: dict[str, tuple[str, type[LocalService]]] = {
    "redis": ("REDIS_URL", RedisServer),
    # Before Ray, whose GCS keeps its tables there; stopped after it.
    "redis-gcs": ("RAY_REDIS_ADDRESS", GcsRedisServer),
    "mysql": ("MYSQL_DSN", MariaDB),
    "kafka": ("KAFKA_BOOTSTRAP", KafkaBroker),
    "ray": ("RAY_ADDRESS", RayHead),
    # After Ray, so that `down` stops it first and it records no storm of dead targets;
    # before Ray would do too: until Ray writes its SD file, Prometheus scrapes no node.
    "prometheus": ("PROMETHEUS_URL", PrometheusServer),
}


def local_service(settings: Settings, name: str) -> LocalService:
    address_name, cls = SERVICES[name]
    if address_name in settings.given:
        raise ValueError(
            f"{name} is external ({address_name} is set); it is not ours to start or stop"
        )
    return cls(settings)


def local_services(settings: Settings) -> list[LocalService]:
    return [cls(settings) for addr, cls in SERVICES.values() if addr not in settings.given]


def up(settings: Settings) -> dict[str, object]:
    started = time.monotonic()
    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    services = local_services(settings)
    if any(isinstance(s, (RedisServer, MariaDB, PrometheusServer)) for s in services):
        ensure_apt_packages()
    for service in services:
        service.start()
    apply_migrations(settings)
    asyncio.run(ensure_topics(settings))
    head = RayHead(settings)
    if "RAY_ADDRESS" not in settings.given:
        for node in worker_nodes(settings):
            node.start()
    deploy_serve(settings, head)
    health = wait_healthy(settings)
    write_env_file(settings)
    log(f"up in {time.monotonic() - started:.1f}s")
    return health


def down(settings: Settings) -> None:
    # Ray first: its actors hold connections to the others.
    for service in reversed(local_services(settings)):
        service.stop()


def status(settings: Settings) -> dict[str, str]:
    report = {}
    for name, (address_name, cls) in SERVICES.items():
        if address_name in settings.given:
            report[name] = "external"
            continue
        service = cls(settings)
        if service.pid() is None:
            report[name] = "stopped"
        else:
            report[name] = "up" if service.healthy() else "starting or unhealthy"
    return report
