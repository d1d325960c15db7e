#!/usr/bin/env bash
# Explanation time per row, side by side in one run (benches/explain_compare.py): `maas
# explain` against the shap package on onnxruntime with the same model, background, rows and
# coalitions; exact Shapley values on the diabetes regressor (10 features), KernelSHAP on the
# digits classifier (64 features). Both models are trained by `maas train` with its defaults
# (seed 42, a background of 50 training rows). Prints JSON with the ratios.
#   RUNS=N  alternated runs per side and case (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(bash tests/cargo-target.sh)"
out="$target/bench-explain"
# the tests' virtual environment holds the judges: shap, onnxruntime, numpy
python="$(bash tests/python-env.sh)/python"
cargo build --release --workspace
maas="$target/release/maas"
store="$out/store"
if [ ! -f "$store/digits/versions/1/background.json" ]; then
  rm -rf "$store"
  "$maas" train --store "$store" --name digits >/dev/null
  "$maas" train --data tests/data/diabetes.csv --task regression --label-column progression \
    --store "$store" --name diabetes >/dev/null
fi
"$python" benches/explain_compare.py "$maas" "$store" "$out/work" "${RUNS:-5}"
