#!/usr/bin/env bash
# Load test of `maas serve` on loopback: wrk at 64 connections for 30 s (LOAD_SECONDS), POST
# /predict with batch 1 and batch 32 on a reference-shape model (1000 -> 512 ReLU -> 10), while
# the server's resident memory is sampled every second. Prints a markdown table: requests/s,
# p50/p90/p99 latency, errors, lost requests, memory at the start, peak and end.
# Needs wrk (apt-get install wrk). Results go in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
seconds=${LOAD_SECONDS:-30}
connections=${LOAD_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
# --workspace: the feature set of the tests' build, so its artifacts are reused
cargo build --release --workspace
maas="$target/release/maas"
work="$target/load"
rm -rf "$work" && mkdir -p "$work"
"$maas" datagen --output "$work/reference.csv" --rows 2000 --features 1000 --classes 10 >/dev/null
"$maas" train --data "$work/reference.csv" --store "$work/models" --name reference --epochs 1 >/dev/null
python3 - "$work" <<'PY'
import csv, json, sys
work = sys.argv[1]
with open(f"{work}/reference.csv") as f:
    rows = [[float(v) for v in r[1:]] for r in list(csv.reader(f))[1:33]]
for n in (1, 32):
    with open(f"{work}/batch{n}.json", "w") as out:
        json.dump({"inputs": rows[:n]}, out)
PY
"$maas" serve --model "$work/models/reference" --port 0 >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "on http://" "$work/serve.log" && break
  sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
echo "| batch | requests/s | p50 | p90 | p99 | max | socket errors | non-2xx | lost | RSS start → peak → end (MiB) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for batch in 1 32; do
  # warm up, then measure
  MAAS_BODY="$work/batch$batch.json" wrk -t2 -c"$connections" -d3s -s benches/load.lua "$url/predict" >/dev/null
  start=$(rss); peak=$start
  ( while kill -0 $server 2>/dev/null; do r=$(rss); echo "$r"; sleep 1; done ) >"$work/rss-$batch.txt" &
  sampler=$!
  MAAS_BODY="$work/batch$batch.json" wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s \
    -s benches/load.lua "$url/predict" >"$work/wrk-$batch.txt"
  kill $sampler 2>/dev/null || true
  end=$(rss)
  peak=$(sort -n "$work/rss-$batch.txt" | tail -1)
  python3 - "$work/wrk-$batch.txt" "$batch" "$start" "$peak" "$end" <<'PY'
import json, sys
path, batch, start, peak, end = sys.argv[1:]
r = json.loads([l for l in open(path) if l.startswith("{")][-1])
socket = r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
ms = lambda us: f"{us / 1000:.2f} ms"
rps = r["requests"] / (r["duration_us"] / 1e6)
mib = lambda kb: f"{int(kb) / 1024:.1f}"
# lost: requests sent that got no answer (socket read errors and timeouts)
lost = r["read_errors"] + r["timeouts"]
print(f"| {batch} | {rps:,.0f} | {ms(r['p50_us'])} | {ms(r['p90_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} | {socket} | {r['non_2xx']} | {lost} | {mib(start)} → {mib(peak)} → {mib(end)} |")
PY
done
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), ${connections} connections, 2 threads, ${seconds} s per batch size, loopback"
