"""The one Settings object: read from the environment once, validated, frozen.

A leaf module: it imports nothing from the project, so actors, routes, the local
bring-up and the tests can all depend on it. Nothing else reads ``os.environ``;
callers pass the mapping in (``Settings.from_env(os.environ)``), which keeps tests free
of global state.

Every service address is optional: when it is not given, the local bring-up starts that
service on loopback at the matching ``FLASHSALE_*_PORT`` and the address is derived
from the port. ``Settings.given`` says which addresses came from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Port = Annotated[int, Field(ge=1, le=65535)]

# Environment name -> field name. The names are part of the contract (API.md).
ENV_NAMES: dict[str, str] = {
    "FLASHSALE_PAYMENT_TIMEOUT_S": "payment_timeout_s",
    "FLASHSALE_PREHEAT_LEAD_S": "preheat_lead_s",
    "FLASHSALE_SHARDS_PER_DEAL": "shards_per_deal",
    "FLASHSALE_RATE_LIMIT_PER_USER": "rate_limit_per_user",
    "FLASHSALE_RATE_LIMIT_GLOBAL": "rate_limit_global",
    "FLASHSALE_JWT_SECRET": "jwt_secret",
    "FLASHSALE_JWT_TTL_S": "jwt_ttl_s",
    "FLASHSALE_HTTP_PORT": "http_port",
    "FLASHSALE_SERVE_REPLICAS": "serve_replicas",
    "FLASHSALE_RAY_NODES": "ray_nodes",
    "FLASHSALE_MAX_BODY_BYTES": "max_body_bytes",
    "FLASHSALE_CALL_TIMEOUT_S": "call_timeout_s",
    "FLASHSALE_BATCH_MAX": "batch_max",
    "FLASHSALE_BATCH_CONCURRENCY": "batch_concurrency",
    "FLASHSALE_OUTBOX_MAX": "outbox_max",
    "FLASHSALE_BREAKER_FAILURES": "breaker_failures",
    "FLASHSALE_BREAKER_OPEN_S": "breaker_open_s",
    "FLASHSALE_REDIS_MAX_CONNECTIONS": "redis_max_connections",
    "FLASHSALE_KAFKA_ORDERS_TOPIC": "kafka_orders_topic",
    "FLASHSALE_KAFKA_PARTITIONS": "kafka_partitions",
    "FLASHSALE_REDIS_PORT": "redis_port",
    "FLASHSALE_MYSQL_PORT": "mysql_port",
    "FLASHSALE_KAFKA_PORT": "kafka_port",
    "FLASHSALE_KAFKA_CONTROLLER_PORT": "kafka_controller_port",
    "FLASHSALE_RAY_PORT": "ray_port",
    "FLASHSALE_DASHBOARD_PORT": "dashboard_port",
    "FLASHSALE_RAY_CLIENT_PORT": "ray_client_port",
    "FLASHSALE_RAY_AGENT_PORT": "ray_agent_port",
    "FLASHSALE_SERVE_FALLBACK_PORT": "serve_fallback_port",
    "FLASHSALE_SERVE_REPLICA_PORT": "serve_replica_port",
    "FLASHSALE_HAPROXY_STATS_PORT": "haproxy_stats_port",
    "FLASHSALE_HAPROXY_METRICS_PORT": "haproxy_metrics_port",
    "FLASHSALE_PROMETHEUS_PORT": "prometheus_port",
    "FLASHSALE_GCS_REDIS_PORT": "gcs_redis_port",
    "FLASHSALE_STATE_DIR": "state_dir",
    "FLASHSALE_CDN_BASE_URL": "cdn_base_url",
    "REDIS_URL": "redis_url",
    "MYSQL_DSN": "mysql_dsn",
    "KAFKA_BOOTSTRAP": "kafka_bootstrap",
    "RAY_ADDRESS": "ray_address",
    "PROMETHEUS_URL": "prometheus_url",
    "RAY_REDIS_ADDRESS": "gcs_redis_address",
}
FIELD_ENV = {field: env for env, field in ENV_NAMES.items()}
ADDRESS_NAMES = (
    "REDIS_URL",
    "MYSQL_DSN",
    "KAFKA_BOOTSTRAP",
    "RAY_ADDRESS",
    "PROMETHEUS_URL",
    "RAY_REDIS_ADDRESS",
)
# FLASHSALE_CDN_BASE_URL: scheme, host (or [IPv6]), optional port and path; no query.
_BASE_URL = re.compile(
    r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~%/-]*)?"
)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class MysqlAddress(BaseModel):
    model_config = ConfigDict(frozen=True)
    host: str
    port: int
    user: str
    password: str
    database: str


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_timeout_s: float = Field(900.0, gt=0, le=7 * 24 * 3600)
    preheat_lead_s: float = Field(300.0, ge=0, le=7 * 24 * 3600)
    # One shard per deal unless a deal asks for more: on a 2-core machine a second shard
    # halves every batch and adds a process, and cost a tenth to a fifth of the purchase
    # rate (docs/design.md, "Third round"). Raise it where a shard's core is the limit.
    shards_per_deal: int = Field(1, ge=1, le=64)
    rate_limit_per_user: float = Field(10.0, gt=0)
    rate_limit_global: float = Field(20_000.0, gt=0)
    jwt_secret: str = Field(min_length=16)
    jwt_ttl_s: int = Field(3600, ge=60, le=30 * 24 * 3600)
    http_port: Port = 8000
    # Storefront replicas `make up` deploys (a RayService sets its own in serveConfigV2).
    serve_replicas: int = Field(1, ge=1, le=64)
    # Ray nodes `make up` runs on this machine: the head, and worker nodes beside it
    # (`make up NODES=3`), where the replicas and actors then live.
    ray_nodes: int = Field(1, ge=1, le=8)
    max_body_bytes: int = Field(16 * 1024, ge=256, le=1024 * 1024)
    # Upper bound on any single call to Redis, MySQL, Kafka or an actor.
    call_timeout_s: float = Field(2.0, gt=0, le=60)
    # Purchase batching in each replica (serve_app/batcher.py): the most purchases one
    # actor call carries, and how many calls to one shard may be out at once; what
    # arrives meanwhile leaves with the next call. No timer: nobody waits for company.
    batch_max: int = Field(500, ge=1, le=10_000)
    batch_concurrency: int = Field(1, ge=1, le=64)
    # Order events a deal's outbox may hold before Kafka has them: past it, purchases
    # get 503 (payments and cancels still pass), so a Kafka outage cannot fill Redis.
    outbox_max: int = Field(10_000, ge=1, le=10_000_000)
    # Circuit breakers (actors/adapters/breakers.py), one per dependency per process:
    # this many calls in a row finding it away open it; open, calls fail at once; after
    # this many seconds the next calls probe it, and the first success closes it.
    breaker_failures: int = Field(5, ge=1, le=1000)
    breaker_open_s: float = Field(5.0, gt=0, le=600)
    # Connections to Redis per client (per process): past them a call waits for one to
    # free, up to half of call_timeout_s, then fails as this process's overload (503),
    # which its Redis breaker does not count (cluster/clients.py).
    redis_max_connections: int = Field(100, ge=1, le=10_000)
    kafka_orders_topic: str = Field("orders", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    kafka_partitions: int = Field(4, ge=1, le=256)

    # Ports of the services the local bring-up starts. Redis stays off 6379: Ray's GCS.
    redis_port: Port = 6390
    mysql_port: Port = 3307
    kafka_port: Port = 9092
    kafka_controller_port: Port = 9093
    ray_port: Port = 6379
    dashboard_port: Port = 8265
    # Ray's and Serve's own fixed ports (their defaults), settings so that a second Ray
    # cluster can run beside ours on one machine (the fencing drill, an upgrade's two
    # clusters): Ray client server, dashboard agent, Serve's fallback proxy, and the
    # first of the 1,000 ports Serve's replicas listen on behind HAProxy (their gRPC
    # ports start 10,000 above).
    ray_client_port: Port = 10001
    ray_agent_port: Port = 52365
    serve_fallback_port: Port = 8500
    serve_replica_port: int = Field(30000, ge=1024, le=54000)
    haproxy_stats_port: Port = 8404
    haproxy_metrics_port: Port = 9101
    # Prometheus, which keeps Ray's metrics and HAProxy's (cluster/local/prometheus.py)
    # and which the Ray dashboard's metric charts query.
    prometheus_port: Port = 9090
    # Ray's GCS keeps its tables in a Redis of its own (GCS fault tolerance: a killed
    # GCS restarts from them), never the shop's, which the drills stop and hang.
    gcs_redis_port: Port = 6391

    # Where the local bring-up keeps its services' data and logs.
    state_dir: str = ".flashsale"
    # Where browsers fetch the storefront's assets: "" for this server, else a CDN that
    # serves this server's /static/ paths, e.g. https://cdn.example.com (the page names
    # {cdn_base_url}/static/<hashed name>). A trailing slash is dropped.
    cdn_base_url: str = ""

    redis_url: str = ""
    mysql_dsn: str = ""
    kafka_bootstrap: str = ""
    ray_address: str = ""
    prometheus_url: str = ""
    # host:port of the GCS's Redis (Ray's own variable, as KubeRay sets it on the head).
    gcs_redis_address: str = ""
    # Environment names of the addresses that were given rather than derived.
    given: frozenset[str] = frozenset()

    @field_validator("cdn_base_url")
    @classmethod
    def _cdn_base(cls, value: str) -> str:
        # Strict characters: the value is written into the page's HTML and import map.
        if value and not _BASE_URL.fullmatch(value):
            raise ValueError(
                "must be empty or an http(s):// URL without query, e.g. https://cdn.example.com"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        derived = {
            "redis_url": f"redis://127.0.0.1:{self.redis_port}/0",
            "mysql_dsn": f"mysql://flashsale:flashsale@127.0.0.1:{self.mysql_port}/flashsale",
            "kafka_bootstrap": f"127.0.0.1:{self.kafka_port}",
            "ray_address": f"127.0.0.1:{self.ray_port}",
            "prometheus_url": f"http://127.0.0.1:{self.prometheus_port}",
            "gcs_redis_address": f"127.0.0.1:{self.gcs_redis_port}",
        }
        for field, value in derived.items():
            if not getattr(self, field):
                object.__setattr__(self, field, value)
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if urlsplit(self.prometheus_url).scheme not in ("http", "https"):
            raise ValueError("PROMETHEUS_URL must be an http:// or https:// URL")
        if not re.fullmatch(r"[A-Za-z0-9.-]+:[0-9]{1,5}", self.gcs_redis_address):
            raise ValueError("RAY_REDIS_ADDRESS must be host:port")
        self.mysql()  # raises on a malformed DSN
        ports = [getattr(self, f) for f in _LOCAL_PORTS]
        if len(set(ports)) != len(ports):
            raise ValueError("the FLASHSALE_*_PORT settings must all differ")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {
            field: environ[env] for env, field in ENV_NAMES.items() if environ.get(env)
        }
        values["given"] = frozenset(n for n in ADDRESS_NAMES if environ.get(n))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from None

    def mysql(self) -> MysqlAddress:
        parts = urlsplit(self.mysql_dsn)
        database = parts.path.lstrip("/")
        if parts.scheme not in ("mysql", "mariadb") or not parts.hostname or not database:
            raise ValueError("MYSQL_DSN must look like mysql://user:password@host:port/database")
        return MysqlAddress(
            host=parts.hostname,
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=database,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in another process."""
        env = {}
        for field, name in FIELD_ENV.items():
            value = getattr(self, field)
            env[name] = str(
                int(value) if isinstance(value, float) and value.is_integer() else value
            )
        return env


_LOCAL_PORTS = (
    "redis_port",
    "mysql_port",
    "kafka_port",
    "kafka_controller_port",
    "ray_port",
    "dashboard_port",
    "ray_client_port",
    "ray_agent_port",
    "serve_fallback_port",
    "haproxy_stats_port",
    "haproxy_metrics_port",
    "prometheus_port",
    "gcs_redis_port",
    "http_port",
)


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        name = FIELD_ENV.get(field, field or "settings")
        lines.append(f"{name}: {err['msg']}")
    return "invalid settings: " + "; ".join(lines)
