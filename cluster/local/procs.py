"""Start, find and stop the local services' processes; wait for them to be ready.

Each service has a pid file in the state directory. A service counts as running only
while that pid is alive, so a stale pid file after a reboot is harmless.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class BringUpError(RuntimeError):
    """A local service could not be installed, started or stopped."""


def log(message: str) -> None:
    print(f"[flashsale] {message}", flush=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool], what: str, timeout_s: float, log_file: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = ""
    if log_file and log_file.exists():
        tail = (
            "\n--- last lines of "
            + str(log_file)
            + " ---\n"
            + "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
        )
    raise BringUpError(f"{what} not ready after {timeout_s:.0f}s{tail}")


def spawn(
    argv: Sequence[str], *, pid_file: Path, log_file: Path, env: dict[str, str] | None = None
) -> int:
    """Start a long-running server detached from us, in its own session.

    A shell starts it in the background and exits, so the server is not our child:
    it outlives this process and leaves no zombie or open handle behind.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    launcher = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["sh", "-c", launcher, "sh", str(log_file), *argv],
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,
        check=True,
        timeout=30,
    )
    pid = int(result.stdout.strip())
    pid_file.write_text(str(pid))
    return pid


def terminate(pid: int, *, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Signal a process and wait until it is gone; SIGKILL it if it will not go."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while pid_alive(pid):
        time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    # Our own children become zombies until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_pid_file(pid_file: Path, *, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    terminate(pid, timeout_s=timeout_s, sig=sig)
    pid_file.unlink(missing_ok=True)
    return True


def pids_matching(fragment: str) -> list[int]:
    """Pids of processes whose command line contains ``fragment``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout_s: float = 600) -> str:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, env=env, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise BringUpError(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )
    return result.stdout


def descendants(pids: set[int]) -> set[int]:
    """Every living process below ``pids`` in the process tree (not ``pids`` themselves)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent is field 4 of /proc/<pid>/stat; the name (field 2) may hold spaces.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child not in pids:
                found.add(child)
                todo.append(child)
    return found
