"""What every local service offers the bring-up: start, stop, and a health check."""

from __future__ import annotations

import signal
from pathlib import Path

from cluster.local.procs import log, read_pid, stop_pid_file, wait_until
from cluster.settings import Settings


class LocalService:
    """One server process we own, with its pid file, log and data under ``home``."""

    name = "service"
    start_timeout_s = 60.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(settings.state_dir) / self.name
        self.pid_file = self.home / f"{self.name}.pid"
        self.log_file = self.home / f"{self.name}.log"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def healthy(self) -> bool:
        raise NotImplementedError

    def _launch(self) -> None:
        raise NotImplementedError

    def _after_start(self) -> None:
        """Idempotent setup once the server answers (schema, topics, ...)."""

    def start(self) -> None:
        if self.pid() is None:
            if self.healthy():
                raise RuntimeError(
                    f"{self.name}: something else already answers on its port; "
                    f"stop it or give its address in the environment"
                )
            log(f"starting {self.name}")
            self.home.mkdir(parents=True, exist_ok=True)
            self._launch()
            wait_until(self._ready, self.name, self.start_timeout_s, self.log_file)
        self._after_start()

    def _ready(self) -> bool:
        if self.pid() is None:
            raise RuntimeError(f"{self.name} exited during start; see {self.log_file}")
        return self.healthy()

    def stop(self, *, kill: bool = False) -> bool:
        """Stop the server (SIGKILL when ``kill``, as a crash would). True if it ran."""
        stopped = stop_pid_file(self.pid_file, sig=signal.SIGKILL if kill else signal.SIGTERM)
        if stopped:
            log(f"stopped {self.name}")
        return stopped
