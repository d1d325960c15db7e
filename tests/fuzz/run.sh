#!/usr/bin/env bash
# Fuzzes maas for a fixed budget: each target (http_request, lambda_event, data_files) runs
# SECONDS seconds (default 60) under libFuzzer with AddressSanitizer, seeded with the committed
# corpus (tests/fuzz/corpus/<target>) and seeds made from the hostile-request corpus. New
# interesting inputs are merged into tests/fuzz/corpus/<target> (minimised); a crash is saved
# under tests/fuzz/artifacts/<target> and fails the run. Prints executions and crashes.
#
# usage: bash tests/fuzz/run.sh [SECONDS]     (needs the nightly toolchain; installs cargo-fuzz)
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fuzz="cargo +nightly fuzz"
dir=tests/fuzz
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 "$dir/seeds.py" "$seeds"
$fuzz build --fuzz-dir "$dir" -O
status=0
summary=""
for target in http_request lambda_event data_files; do
  mkdir -p "$dir/corpus/$target"
  log="$seeds/$target.log"
  set +e
  $fuzz run --fuzz-dir "$dir" -O "$target" "$dir/corpus/$target" "$seeds/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 >"$log" 2>&1
  code=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(ls "$dir/artifacts/$target" 2>/dev/null | wc -l)
  summary+=$(printf '%-14s %8ss %12s executions  %s crash files  exit %s' "$target" "$seconds" "$runs" "$crashes" "$code")$'\n'
  if [ "$code" -ne 0 ]; then
    status=1
    tail -40 "$log"
  fi
  # keep the committed corpus small: only inputs that add coverage
  $fuzz cmin --fuzz-dir "$dir" -O "$target" "$dir/corpus/$target" >/dev/null 2>&1 || true
done
printf '\n%s' "$summary"
exit $status
