#!/usr/bin/env bash
# Side-by-side benchmark of maas (tract) and Python + onnxruntime on the same reference ONNX
# (1000 -> 512 ReLU -> 10 softmax) and the same request bodies, in one run:
#   whole handler (JSON in -> JSON out) at batch 1, 32, 256; inference alone; process cold start
#   to the first HTTP answer; peak RSS. Prints a markdown table with ratios (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6
cargo build --release --bin maas
cargo bench --bench handler -- --warm-up-time 1 --measurement-time 5 >target/bench-criterion.log
"$venv/bin/python" benches/ort_handler.py target/bench >target/bench/ort_handler.json
"$venv/bin/python" benches/cold_start.py target/release/maas "$venv/bin/python" target/bench "${COLD_RUNS:-10}" >target/bench/cold_start.json
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(rustc --version)"
python3 benches/report.py target/criterion target/bench/ort_handler.json target/bench/cold_start.json
