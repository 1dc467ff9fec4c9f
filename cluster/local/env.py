"""Settings on this machine: the one ``load_settings``, and the running stack's env file.

``make up`` reads the environment alone (a setting left out goes back to its default);
tools and tests ask for the running stack's settings (``running_stack=True``), which
``make up`` wrote to ``.flashsale/env``, with the environment on top.
"""

from __future__ import annotations

import secrets
import shlex
from pathlib import Path

from cluster.settings import Settings


def env_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / "env"


def write_env_file(settings: Settings) -> None:
    """The running stack's settings, for tests and tools: ``source .flashsale/env``."""
    lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(settings.to_env().items())]
    env_file(settings).write_text("\n".join(lines) + "\n")


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export ") :].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def load_settings(environ: dict[str, str], *, running_stack: bool = False) -> Settings:
    env = dict(environ)
    state = Path(env.get("FLASHSALE_STATE_DIR") or ".flashsale").resolve()
    if running_stack and (state / "env").exists():
        env = {**read_env_file(state / "env"), **env}
    env["FLASHSALE_STATE_DIR"] = str(state)
    if not env.get("FLASHSALE_JWT_SECRET"):
        # A secret of this machine's own, kept with its data: never a default in code.
        secret_file = state / "jwt_secret"
        if not secret_file.exists():
            state.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(32))
            secret_file.chmod(0o600)
        env["FLASHSALE_JWT_SECRET"] = secret_file.read_text().strip()
    return Settings.from_env(env)
