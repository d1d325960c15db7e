#!/usr/bin/env bash
# Batch scoring of one object side by side, in one run: `maas batch` (--workers 1 and 2) against
# a Python Lambda-style handler (boto3 streaming + numpy + onnxruntime, benches/ort_batch.py),
# the same reference-shape CSV (1000 features, BATCH_ROWS rows, default 20000) and model, read
# from and written to a local S3-compatible server (moto). Rows/s and peak RSS (GNU time).
# Then `maas batch` alone on a 1 GB object of the same shape (BIG_ROWS, default 140000 rows): its
# peak RSS must not grow with the object. Prints markdown (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
rows=${BATCH_ROWS:-20000}
venv="$target/bench-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check onnxruntime==1.32.0 numpy==2.4.6 boto3
cargo build --release --workspace
maas="$target/release/maas"
work="$target/batch-compare"
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

# the same scoring on a 1 GB object: memory must stay where it was
big_rows=${BIG_ROWS:-140000}
"$maas" datagen --output "$work/big.csv" --rows "$big_rows" --features 1000 --classes 10 --seed 9 >/dev/null
"$venv/bin/python" - "$work/big.csv" <<'PY'
import sys, boto3
boto3.client("s3").upload_file(sys.argv[1], "bench", "in/big.csv")
PY
big_size=$(stat -c %s "$work/big.csv")
rm "$work/big.csv"
measure maas-big "$maas" batch --model "$work/models/reference" --input s3://bench/in/big.csv \
  --output s3://bench/out-big/ --workers 1 --range-mib 4096 >"$work/big.txt"
python3 - "$work/big.txt" "$big_rows" "$big_size" "$work/results.txt" <<'PY'
import sys
label, s, kib = open(sys.argv[1]).read().split()
rows, size = int(sys.argv[2]), int(sys.argv[3])
small = {l.split()[0]: int(l.split()[2]) for l in open(sys.argv[4])}["maas-1"]
print(f"\n`maas batch --workers 1` on one {size / 2**30:.2f} GiB object ({rows:,} rows): {float(s):.1f} s, "
      f"{rows / float(s):,.0f} rows/s, peak RSS {int(kib) / 1024:.1f} MiB (the {small / 1024:.1f} MiB above for 1/7 of the rows).")
PY
