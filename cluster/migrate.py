"""Versioned schema migrations: ``cluster/migrations/NNNN_name.sql``, applied in order.

Each applied version is recorded in ``schema_migrations``. MySQL commits DDL at once,
so a migration is written to be re-runnable (``IF NOT EXISTS``): if the process dies
between the DDL and the record, the next run applies it again harmlessly.
"""

from __future__ import annotations

import re
from pathlib import Path

from cluster.clients import mysql_connect
from cluster.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    found.sort()
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version in {directory}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` at line ends; our migrations hold no procedures or strings with ';'."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in re.split(r";\s*(?:\n|$)", body) if stmt.strip()]


def apply_migrations(
    settings: Settings, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[int]:
    """Apply the migrations not yet recorded; return the versions applied now."""
    conn = mysql_connect(settings, database=database)
    applied_now = []
    try:
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INT NOT NULL PRIMARY KEY,"
                " name VARCHAR(200) NOT NULL,"
                " applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))"
            )
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for version, path in migrations(directory):
                if version in done:
                    continue
                for statement in split_statements(path.read_text()):
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, path.name),
                )
                applied_now.append(version)
    finally:
        conn.close()
    return applied_now
