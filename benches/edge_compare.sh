#!/usr/bin/env bash
# The edge worker, one run: its size (raw and compressed, as `wrangler deploy --dry-run` packs
# it; alone and with the reference model bundled), then cold and warm requests under workerd
# next to the Lambda function under `cargo lambda watch` and Python + onnxruntime, all on the
# reference model (1000 -> 512 ReLU -> 10 softmax) read from the same local store.
#   RUNS=N   alternated cold starts per side (default 5)
#   WARM=N   warm requests per batch size (default 200)
# Prints a markdown table (BENCHMARKS.md, "Edge worker").
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
venv="$target/bench-venv"
bench="$target/bench"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6
mkdir -p "$bench"
cargo build --release --workspace
# the function alone (as its watch test builds it), so the first invoke measures a start, not a build
cargo build --release --package predict
bash functions/edge/setup.sh
# the reference model and request bodies, written by the handler benchmark's set-up
if [ ! -f "$bench/reference.onnx" ] || [ ! -f "$bench/batch32.json" ]; then
  cargo bench --workspace --bench handler -- --warm-up-time 1 --measurement-time 1 model_load >/dev/null
fi
store="$bench/edge-store"
rm -rf "$store" "$bench/edge-state"
"$target/release/maas" publish --onnx "$bench/reference.onnx" --name reference --store "$store" >/dev/null

export MAAS_BIN="$target/release/maas"
bash functions/edge/build.sh --bundle "$store/reference" >/dev/null
bundled="$(cat functions/edge/build/size.txt)"
bash functions/edge/build.sh >/dev/null
alone="$(cat functions/edge/build/size.txt)"
wasm_bytes=$(stat -c %s functions/edge/build/edge.wasm)

"$venv/bin/python" benches/edge_compare.py "$bench" "$store" reference "$venv/bin/python" \
  "${RUNS:-5}" "${WARM:-200}" >"$bench/edge.json"
python3 - "$bench/edge.json" "$alone" "$bundled" "$wasm_bytes" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
print(f"Worker alone: {sys.argv[2]} (edge.wasm {int(sys.argv[4]) / 1e6:.2f} MB)")
print(f"Worker with the reference model bundled: {sys.argv[3]}")
print()
ms = lambda s: f"{s * 1e3:.2f} ms"
python = next(v for k, v in results.items() if k.startswith("Python"))
print("| | spawn → first answer | first request | batch 1 warm (median / p90) | batch 32 warm (median / p90) | CPU per request, batch 1 / 32 |")
print("|---|---|---|---|---|---|")
for label, r in results.items():
    print(f"| {label} | {ms(r['from_spawn'])} | {ms(r['first_request'])} | "
          f"{ms(r['batch1_median'])} / {ms(r['batch1_p90'])} ({r['batch1_median'] / python['batch1_median']:.2f}×) | "
          f"{ms(r['batch32_median'])} / {ms(r['batch32_p90'])} ({r['batch32_median'] / python['batch32_median']:.2f}×) | "
          f"{ms(r['batch1_cpu'])} / {ms(r['batch32_cpu'])} |")
PY
