#!/usr/bin/env bash
# Make .venv hold flashsale and its pinned dependencies. Quick when nothing changed:
# the install runs only when pyproject.toml differs from the last install.
set -euo pipefail
cd "$(dirname "$0")/../.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || { echo "flashsale needs Python 3.11 (set PYTHON=...)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "[flashsale] creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.flashsale-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[flashsale] installing Python dependencies into .venv"
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test,bench]'; } >.venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
