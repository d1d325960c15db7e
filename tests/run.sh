#!/usr/bin/env bash
# Runs every test of the workspace: installs the Python judges (onnx checker, onnxruntime) the
# integration tests call, then `cargo test --release` (one profile, shared with `maas` itself).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/requirements.txt
cargo test --release --workspace "$@"
