#!/usr/bin/env bash
# Side-by-side benchmark of maas and Python (onnxruntime, Keras), every figure in one run:
#   whole handler (JSON in -> JSON out) at batch 1, 32, 256 and inference alone, KServe V2 JSON
#   against the binary tensor extension (256 x 1000, and one [1, 3, 224, 224] image), on the same
#   reference ONNX (1000 -> 512 ReLU -> 10 softmax) and the same request bodies; cold start and
#   peak RSS of a process that loads the model from a local store and prints one answer (and of
#   a server answering its first HTTP request); training samples/s and test accuracy against
#   Keras on the same 20000 x 1000 data; the Lambda function's init, first response, warm
#   invocations and peak RSS against a Python function under a Lambda Runtime API harness
#   (benches/lambda_compare.py); the arm64 Lambda package size.
# Prints a markdown table with ratios (see BENCHMARKS.md).
#   COLD_RUNS=N   cold starts per side (default 10)
#   LAMBDA_RUNS=N Runtime API harness runs per side and model source (default 10)
#   EPOCHS=N      training epochs per side (default 10, the reference)
#   SKIP_PACKAGE=1  leave out the arm64 package build (10 min the first time)
#   LAMBDA_TARGET_DIR=DIR  where the arm64 build goes (default lambda-arm64 in cargo's target directory; kept between runs)
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
venv="$target/bench-venv"
bench="$target/bench"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check \
  onnxruntime==1.32.0 numpy==2.4.6 tensorflow-cpu==2.21.0 awslambdaric==3.1.1 boto3==1.44.8 onnx==1.23.2
mkdir -p "$bench"
# --workspace: the feature set of the tests' build, so its artifacts are reused
cargo build --release --workspace
maas="$target/release/maas"

# the reference ONNX (seeded, written by the handler bench) and its int8 variant, quantised by
# onnxruntime, with the accuracy change of the same quantisation on the digits model
if [ ! -f "$bench/reference.onnx" ]; then
  cargo bench --workspace --bench handler -- --warm-up-time 1 --measurement-time 1 model_load >/dev/null
fi
"$venv/bin/python" benches/precision_compare.py "$bench" onnx/digits.onnx tests/data/digits.csv \
  2>/dev/null >"$bench/precision.json"

# criterion: handler, inference (f32 and int8), model load (writes reference.onnx and the
# bodies), one epoch
cargo bench --workspace --bench handler -- --warm-up-time 1 --measurement-time 5 >"$bench/criterion-handler.log"
cargo bench --workspace --bench training -- --warm-up-time 1 --measurement-time 10 >"$bench/criterion-training.log"
"$venv/bin/python" benches/ort_handler.py "$bench" >"$bench/ort_handler.json"
"$venv/bin/python" benches/ort_kserve.py "$bench" >"$bench/ort_kserve.json"

# the same model in a local folder store for the cold starts
rm -rf "$bench/store"
"$maas" publish --onnx "$bench/reference.onnx" --name reference --store "$bench/store" >/dev/null
"$venv/bin/python" benches/cold_start.py "$maas" "$venv/bin/python" "$bench" "${COLD_RUNS:-10}" >"$bench/cold_start.json"

# the Lambda function as Lambda runs it (the package's profile, built for this machine) against a
# Python function under the same Runtime API harness, the model from moto, moto + 10 ms per
# request, and a folder in the package (benches/lambda_compare.py)
RUNS="${LAMBDA_RUNS:-10}" bash benches/lambda_compare.sh >/dev/null   # writes $bench/lambda.json

# training on the reference shape: 20000 rows x 1000 features, 10 classes; 4000 more rows of
# the same generator are the rows both sides are finally scored on
if [ ! -f "$bench/reference-test.csv" ]; then
  "$maas" datagen --rows 24000 --output "$bench/generated.csv" >/dev/null
  head -n 20001 "$bench/generated.csv" >"$bench/reference.csv"
  { head -n 1 "$bench/generated.csv"; tail -n 4000 "$bench/generated.csv"; } >"$bench/reference-test.csv"
  rm "$bench/generated.csv"
fi
rm -rf "$bench/train-store"
"$venv/bin/python" benches/train_compare.py "$maas" "$venv/bin/python" "$bench/reference.csv" \
  "$bench/reference-test.csv" "${EPOCHS:-10}" "$bench/train-store" >"$bench/training.json"

# the Lambda package, as the issue and infra/README.md build it
if [ "${SKIP_PACKAGE:-0}" != 1 ]; then
  lambda_target=$(realpath -m "${LAMBDA_TARGET_DIR:-$target/lambda-arm64}")
  log=$(realpath -m "$bench/package.log")
  (cd functions/predict && CARGO_TARGET_DIR="$lambda_target" \
    cargo lambda build --release --arm64 --output-format zip >/dev/null 2>"$log")
  python3 - "$bench/package.json" "$lambda_target/lambda/predict/bootstrap.zip" <<'PY'
import json, os, sys, zipfile
path = sys.argv[2]
with zipfile.ZipFile(path) as z:
    bootstrap = z.getinfo("bootstrap").file_size
json.dump({"zip_bytes": os.path.getsize(path), "bootstrap_bytes": bootstrap}, open(sys.argv[1], "w"))
PY
else
  rm -f "$bench/package.json"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(rustc --version), $("$venv/bin/python" --version)"
python3 benches/report.py "$target/criterion" "$bench"
