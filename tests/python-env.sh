#!/usr/bin/env bash
# Makes (or reuses) the virtual environment of the Python judges the tests call, under cargo's
# target directory, and prints its bin folder. The distribution's Python refuses `pip install`
# into itself (PEP 668, `externally-managed-environment`: Debian 12, Ubuntu 24.04), so the
# judges live in a venv of their own; it is made again only when tests/requirements.txt changes.
# usage: PATH="$(bash tests/python-env.sh):$PATH"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$root/tests/cargo-target.sh")/test-venv"
want="$(sha256sum "$root/tests/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python3" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  # Debian and Ubuntu ship venv's ensurepip apart from python3
  python3 -m venv "$venv" >&2 2>/dev/null || {
    rm -rf "$venv"
    apt-get install -y -qq python3-venv >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
    python3 -m venv "$venv" >&2
  }
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$root/tests/requirements.txt" >&2
  echo "$want" > "$venv/.requirements.sha256"
fi
echo "$venv/bin"
