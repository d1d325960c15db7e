#!/usr/bin/env bash
# Load test of `maas serve`'s three wire forms in one run: KServe V2 over HTTP with JSON, with
# the binary tensor extension, and over gRPC, at batch 1 and 256 on a reference-shape model
# (1000 -> 512 ReLU -> 10), each at 4x the concurrency limit (MAAS_MAX_CONCURRENCY, default 2
# here: LOAD_CONCURRENCY) for LOAD_SECONDS (default 20) after a 2 s warm-up, with the server's
# resident memory sampled every second. Then the same load with a SIGTERM in the middle: the
# server must finish what it admitted and exit 0 within its drain timeout.
# Prints markdown tables (BENCHMARKS.md). The client is benches/load_client.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo's target directory (CARGO_TARGET_DIR and build.target-dir honoured)
target="$(bash tests/cargo-target.sh)"
seconds=${LOAD_SECONDS:-20}
limit=${LOAD_CONCURRENCY:-2}
connections=$((4 * limit))
cargo build --release --workspace
cargo bench --workspace --bench load_client --no-run 2>/dev/null
client=$(ls -t "$target"/release/deps/load_client-* | grep -v '\.d$' | head -1)
maas="$target/release/maas"
work="$target/serve-load"
rm -rf "$work" && mkdir -p "$work"
"$maas" datagen --output "$work/reference.csv" --rows 2000 --features 1000 --classes 10 >/dev/null
"$maas" train --data "$work/reference.csv" --store "$work/models" --name reference --epochs 1 >/dev/null

start_server() {
  http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  grpc_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  MAAS_MAX_CONCURRENCY=$limit MAAS_MAX_BODY_BYTES=64000000 \
    "$maas" serve --model "$work/models/reference" --port "$http_port" --grpc-port "$grpc_port" \
    >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    grep -q "on http://" "$work/serve.log" && break
    sleep 0.1
  done
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0; }
address_of() { if [ "$1" = grpc ]; then echo "127.0.0.1:$grpc_port"; else echo "127.0.0.1:$http_port"; fi; }

start_server
trap 'kill $server 2>/dev/null || true' EXIT
echo "| protocol | batch | answered/s | p50 | p99 | refused (503 / RESOURCE_EXHAUSTED) | errors | lost | RSS start → peak → end (MiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
for batch in 1 256; do
  for protocol in json binary grpc; do
    address=$(address_of $protocol)
    "$client" "$protocol" "$address" reference input 1000 "$batch" "$connections" 2 >/dev/null
    start=$(rss)
    ( while kill -0 $server 2>/dev/null; do rss; sleep 1; done ) >"$work/rss.txt" &
    sampler=$!
    "$client" "$protocol" "$address" reference input 1000 "$batch" "$connections" "$seconds" >"$work/$protocol-$batch.json"
    kill $sampler 2>/dev/null || true
    end=$(rss)
    peak=$(sort -n "$work/rss.txt" | tail -1)
    python3 - "$work/$protocol-$batch.json" "$start" "$peak" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mib = lambda kb: f"{int(kb) / 1024:.1f}"
print(f"| {r['protocol']} | {r['batch']} | {r['answered_per_second']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms "
      f"| {r['refused']} | {r['errors']} | {r['lost']} | {mib(sys.argv[2])} → {mib(sys.argv[3])} → {mib(sys.argv[4])} |")
PY
  done
done
kill $server; wait $server 2>/dev/null || true

# SIGTERM in the middle of the load: every admitted request completes, the process exits 0
echo
echo "| SIGTERM under load | |"
echo "|---|---|"
start_server
"$client" binary "127.0.0.1:$http_port" reference input 1000 256 "$connections" 8 >"$work/sigterm.json" &
load=$!
sleep 4
killed_at=$(date +%s.%N)
kill -TERM $server
status=0
wait $server || status=$?
exited_at=$(date +%s.%N)
wait $load || true
python3 - "$work/sigterm.json" "$status" "$killed_at" "$exited_at" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| exit status | {sys.argv[2]} |")
print(f"| SIGTERM to exit | {float(sys.argv[4]) - float(sys.argv[3]):.2f} s |")
print(f"| answered 200 | {r['answered']} |")
print(f"| refused 503 | {r['refused']} |")
print(f"| errors (other statuses) | {r['errors']} |")
print(f"| sent and never answered (lost) | {r['lost']} |")
print(f"| attempts after the listener closed (connection refused) | {r['not_connected']} |")
PY
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); MAAS_MAX_CONCURRENCY=$limit, $connections connections, $seconds s per row, loopback"
