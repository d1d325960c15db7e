#!/usr/bin/env bash
# Cold start as Lambda counts it (issue 18's harness): the release `predict` bootstrap against a
# Python function (awslambdaric + boto3 + onnxruntime) under the same Lambda Runtime API
# (benches/runtime_api.py), the reference model read from moto through `@latest`, directly and
# through a proxy adding 10 ms to each S3 round trip. RUNS=N alternated runs (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
bench=target/bench
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6 \
  awslambdaric==3.1.1 boto3==1.44.8
cargo build --release --workspace
cargo build --release --package predict
if [ ! -f "$bench/reference.onnx" ] || [ ! -f "$bench/batch1.json" ]; then
  cargo bench --workspace --bench handler -- --warm-up-time 1 --measurement-time 1 model_load >/dev/null
fi
"$venv/bin/python" benches/lambda_compare.py "$PWD/target/release/predict" "$PWD/$venv/bin/python" \
  "$PWD/target/release/maas" "$PWD/$bench" "${RUNS:-10}" >"$bench/lambda.json"
python3 - "$bench/lambda.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("| S3 | side | init (spawn → first next) | first response | warm invocation | peak RSS |")
print("|---|---|---|---|---|---|")
for latency in ("direct", "+10 ms"):
    ours, theirs = d[f"maas (bootstrap)|{latency}"], d[f"Python (awslambdaric + onnxruntime)|{latency}"]
    for side, r in (("maas", ours), ("Python", theirs)):
        print(f"| {latency} | {side} | {r['init'] * 1e3:.1f} ms | {r['first_response'] * 1e3:.1f} ms | "
              f"{r['warm'] * 1e3:.2f} ms | {r['peak_rss_kib'] / 1024:.1f} MiB |")
    print(f"| {latency} | ratio | {ours['init'] / theirs['init']:.3f} | {ours['first_response'] / theirs['first_response']:.3f} | "
          f"{ours['warm'] / theirs['warm']:.2f} | {ours['peak_rss_kib'] / theirs['peak_rss_kib']:.2f} |")
PY
