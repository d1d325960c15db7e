#!/usr/bin/env bash
# Batch scoring of one object side by side, in one run: `maas batch` (--workers 1 and 2) against
# a Python Lambda-style handler (boto3 streaming + numpy + onnxruntime, benches/ort_batch.py),
# the same reference-shape CSV (1000 features, BATCH_ROWS rows, default 20000) and model, read
# from and written to a local S3-compatible server (moto). Rows/s and peak RSS (GNU time).
# Prints a markdown table (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${BATCH_ROWS:-20000}
venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6 boto3
cargo build --release --workspace
maas=target/release/maas
work=target/batch-compare
rm -rf "$work" && mkdir -p "$work"
"$maas" datagen --output "$work/train.csv" --rows 2000 --features 1000 --classes 10 >/dev/null
"$maas" train --data "$work/train.csv" --store "$work/models" --name reference --epochs 1 >/dev/null
"$maas" datagen --output "$work/rows.csv" --rows "$rows" --features 1000 --classes 10 --seed 7 >/dev/null
onnx=$(ls "$work"/models/reference/versions/1/model.onnx)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 \
  AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_S3="http://127.0.0.1:$port" \
  AWS_ENDPOINT_URL="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port" >/dev/null && break; sleep 0.2; done
"$venv/bin/python" - "$work/rows.csv" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
s3.create_bucket(Bucket="bench")
s3.upload_file(sys.argv[1], "bench", "in/rows.csv")
PY
size=$(stat -c %s "$work/rows.csv")

measure() { # label, command...: prints "label seconds peak_kib"
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/time-$label" "$@" >"$work/out-$label" 2>"$work/err-$label"
  end=$(date +%s.%N)
  echo "$label $(python3 -c "print($end - $start)") $(tail -1 "$work/time-$label")"
}
{
  measure maas-1 "$maas" batch --model "$work/models/reference" --input s3://bench/in/rows.csv \
    --output s3://bench/out-maas-1/ --workers 1
  measure maas-2 "$maas" batch --model "$work/models/reference" --input s3://bench/in/rows.csv \
    --output s3://bench/out-maas-2/ --workers 2 --range-mib $(( (size / 2 >> 20) + 1 ))
  measure python "$venv/bin/python" benches/ort_batch.py "$onnx" bench in/rows.csv out-python/rows.csv.out.jsonl
} >"$work/results.txt"
python3 - "$work/results.txt" "$rows" "$size" <<'PY'
import sys
rows, size = int(sys.argv[2]), int(sys.argv[3])
results = {l.split()[0]: (float(l.split()[1]), int(l.split()[2])) for l in open(sys.argv[1])}
py_s, py_kib = results["python"]
print(f"One object: {rows:,} rows x 1000 features ({size / 2**20:.0f} MiB CSV) on moto, whole process wall time (model load included).\n")
print("| scorer | seconds | rows/s | peak RSS | rows/s vs Python | RSS vs Python |")
print("|---|---:|---:|---:|---:|---:|")
for name, label in [("maas-1", "maas batch --workers 1"), ("maas-2", "maas batch --workers 2 (two ranges)"), ("python", "Python: boto3 + numpy + onnxruntime")]:
    s, kib = results[name]
    print(f"| {label} | {s:.2f} | {rows / s:,.0f} | {kib / 1024:.1f} MiB | {py_s / s:.2f} | {kib / py_kib:.2f} |")
PY
