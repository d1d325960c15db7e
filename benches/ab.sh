#!/usr/bin/env bash
# A/B against an earlier commit, side by side in one run: the criterion handler benchmarks
# (handler at batch 1/32/256, inference, model load) of BASE saved as a criterion baseline and
# compared by criterion with the working tree, and the cold start of `maas predict` (process
# start -> model loaded from a local store -> first answer printed) and its peak RSS, the two
# binaries started alternately RUNS times each.
#   usage: bash benches/ab.sh BASE_REV [RUNS]     (prints the criterion changes and a JSON line)
# Both builds share one target folder (dependencies are built once): CARGO_TARGET_DIR, or target/;
# the base checkout is a git worktree in it.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bash benches/ab.sh BASE_REV [RUNS]}
runs=${2:-20}
root=$(pwd)
target="$(bash tests/cargo-target.sh)"
export CARGO_TARGET_DIR="$target"
out="$target/ab"
worktree="$out/base-src"
mkdir -p "$out"
git worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
git worktree prune
git worktree add --detach "$worktree" "$base" >/dev/null
criterion_args=(--warm-up-time 1 --measurement-time 5)

# base: the CLI binary and the handler benchmarks as criterion's baseline "ab-base"
(cd "$worktree" && cargo build --release --bin maas)
cp "$target/release/maas" "$out/maas-base"
(cd "$worktree" && cargo bench --bench handler -- "${criterion_args[@]}" --save-baseline ab-base) >"$out/criterion-base.log"

# this tree: the same, compared by criterion with the baseline
cargo build --release --bin maas
cp "$target/release/maas" "$out/maas-new"
cargo bench --bench handler -- "${criterion_args[@]}" --baseline ab-base >"$out/criterion-new.log"
grep -E '^[a-z_0-9/]+ *$|^[a-z_0-9/]+ +time:|time:|change:|No change|improved|regressed' "$out/criterion-new.log" || true

# cold start of `maas predict` from a local folder store, the two binaries alternated
bench="$target/bench"
rm -rf "$out/store"
"$out/maas-new" publish --onnx "$bench/reference.onnx" --name reference --store "$out/store" >/dev/null
python3 benches/ab_cold_start.py "$out/maas-base" "$out/maas-new" "$out/store" "$bench/batch1.json" "$runs"
git worktree remove --force "$worktree"
