#!/usr/bin/env bash
# Runs every test of the workspace: installs the Python judges (onnx checker, onnxruntime, …)
# the integration tests call into a virtual environment under cargo's target directory
# (tests/python-env.sh), GNU time, openssl and the edge worker's tools (wasm32 target,
# wrangler), then `cargo test --release` (one profile, shared with `maas` itself).
set -euo pipefail
cd "$(dirname "$0")/.."
# the tests run `python3`, `moto_server` and `cargo lambda` from PATH: the venv's come first
PATH="$(bash tests/python-env.sh):$PATH"
export PATH
# GNU time measures peak memory in tests/data_faults.rs; openssl makes the certificates of
# tests/s3.rs's TLS endpoint
for tool in /usr/bin/time /usr/bin/openssl; do
  if [ ! -x "$tool" ]; then
    package=$(basename "$tool")
    apt-get install -y -qq "$package" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$package" >/dev/null; }
  fi
done
# the edge worker's test (tests/edge.rs) builds it for wasm32 and runs it under wrangler/workerd
bash functions/edge/setup.sh
cargo test --release --workspace "$@"
