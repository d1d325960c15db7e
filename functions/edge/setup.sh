#!/usr/bin/env bash
# Installs what the edge worker needs to build and run locally: the wasm32 target and the
# pinned wrangler (workerd) from package-lock.json. Fails loudly when either cannot be had.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || rustup target add wasm32-unknown-unknown \
  || { echo "setup.sh: cannot install the Rust target wasm32-unknown-unknown" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is missing (Node.js 20 or newer: apt-get install nodejs npm)" >&2; exit 1; }
if ! (cd "$here" && [ "$(node_modules/.bin/wrangler --version 2>/dev/null)" = "$(node -p 'require("./package.json").devDependencies.wrangler')" ]); then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) \
    || { echo "setup.sh: npm ci failed: wrangler could not be installed" >&2; exit 1; }
fi
