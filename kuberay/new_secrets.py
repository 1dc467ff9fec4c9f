"""Print the Secrets the manifests read, with fresh random passwords.

    .venv/bin/python -m kuberay.new_secrets | kubectl apply -f -

Run it once per installation: applied again it would change the passwords under a
running MariaDB and Redis (which keep the ones they started with). The shape is
kuberay/secrets.example.yaml's, which the checks check with the manifests.
"""

from __future__ import annotations

import secrets
import sys
from typing import Any

import yaml

NAMESPACE = "flashsale"
REDIS_HOST = "redis.flashsale.svc.cluster.local:6379"
MYSQL_HOST = "mariadb.flashsale.svc.cluster.local:3306"
KAFKA_BOOTSTRAP = "kafka-0.kafka.flashsale.svc.cluster.local:9092"


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "flashsale"},
        },
        "type": "Opaque",
        "stringData": data,
    }


def generate(token: Any = secrets.token_urlsafe) -> list[dict[str, Any]]:
    redis, redis_gcs, mysql, mysql_root = (token(24) for _ in range(4))
    return [
        _secret(
            "flashsale-secrets",
            {
                "FLASHSALE_JWT_SECRET": token(32),
                "REDIS_URL": f"redis://:{redis}@{REDIS_HOST}/0",
                "MYSQL_DSN": f"mysql://flashsale:{mysql}@{MYSQL_HOST}/flashsale",
                "KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
            },
        ),
        _secret("flashsale-redis", {"password": redis}),
        _secret("flashsale-redis-gcs", {"password": redis_gcs}),
        _secret("flashsale-mariadb", {"password": mysql, "root-password": mysql_root}),
    ]


def main() -> int:
    sys.stdout.write(yaml.safe_dump_all(generate(), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
