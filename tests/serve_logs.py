"""What the ingress replicas logged during a test: when a test sees a 5xx, the cause
(the exception a replica logged) belongs in its failure message, since CI keeps only
the test output."""

from __future__ import annotations

from pathlib import Path

from cluster.local.ray_head import RayHead
from cluster.settings import Settings

_WORTH_SHOWING = (" WARNING ", " ERROR ", "Traceback", "Error")


class ReplicaLogs:
    """Marks the end of every replica log on creation; ``since`` reads what was
    appended after that mark (replicas started later included)."""

    def __init__(self, settings: Settings) -> None:
        self._dir = RayHead(settings).temp_dir_path / "session_latest" / "logs" / "serve"
        self._marks = {path: path.stat().st_size for path in self._files()}

    def _files(self) -> list[Path]:
        return sorted(self._dir.glob("replica_*.log"))

    def since(self, limit: int = 40) -> list[str]:
        """The last ``limit`` warning, error and traceback lines logged since the mark."""
        found: list[str] = []
        for path in self._files():
            with path.open("rb") as log:
                log.seek(self._marks.get(path, 0))
                text = log.read().decode(errors="replace")
            found += [
                f"{path.name}: {line}"
                for line in text.splitlines()
                if any(w in line for w in _WORTH_SHOWING)
            ]
        return found[-limit:]
