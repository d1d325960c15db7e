#!/usr/bin/env bash
# Cold start as Lambda counts it (issue 18's harness): the release `predict` bootstrap against a
# Python function (awslambdaric + boto3 + onnxruntime) under the same Lambda Runtime API
# (benches/runtime_api.py), the reference model read from moto through `@latest`, directly and
# through a proxy adding 10 ms to each S3 round trip, and from a folder store on disk (the model
# shipped in a layer). RUNS=N alternated runs (default 10).
# The bootstrap is built as the Lambda package is (functions/predict/.cargo/config.toml: fat LTO,
# size-optimised dependencies), for the host, in lambda-host under cargo's target directory: the binary Lambda runs,
# whose resident pages count in its memory.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
venv="$target/bench-venv"
bench="$target/bench"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6 \
  awslambdaric==3.1.1 boto3==1.44.8
cargo build --release --workspace
(cd functions/predict && CARGO_TARGET_DIR="$target/lambda-host" cargo build --release)
if [ ! -f "$bench/reference.onnx" ] || [ ! -f "$bench/batch1.json" ]; then
  cargo bench --workspace --bench handler -- --warm-up-time 1 --measurement-time 1 model_load >/dev/null
fi
"$venv/bin/python" benches/lambda_compare.py "$target/lambda-host/release/predict" "$venv/bin/python" \
  "$target/release/maas" "$bench" "${RUNS:-10}" >"$bench/lambda.json"
python3 benches/report.py --lambda "$bench/lambda.json"
