#!/usr/bin/env bash
# Package size A/B against an earlier commit, side by side in one run: the predict function's
# Lambda package (`cargo lambda build --release --arm64 --output-format zip`, from its folder so
# its size-optimised profile applies, as SAM builds it) of BASE and of this tree, both built
# into one target folder (dependencies are built once per profile).
#   usage: bash benches/ab_package.sh BASE_REV     (prints a JSON line: bytes of both, ratio)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bash benches/ab_package.sh BASE_REV}
target="$(bash tests/cargo-target.sh)"
export CARGO_TARGET_DIR="$target"
out="$target/ab"
worktree="$out/package-src"
mkdir -p "$out"
git worktree remove --force "$worktree" 2>/dev/null || rm -rf "$worktree"
git worktree prune
git worktree add --detach "$worktree" "$base" >/dev/null
package() { # folder of a checkout, name of the copy
  (cd "$1/functions/predict" && cargo lambda build --release --arm64 --output-format zip >/dev/null)
  cp "$target/lambda/predict/bootstrap.zip" "$out/$2.zip"
}
package "$worktree" predict-base
package "$(pwd)" predict-new
git worktree remove --force "$worktree"
python3 - "$out/predict-base.zip" "$out/predict-new.zip" "$base" <<'PY'
import json, os, sys
before, after = (os.path.getsize(p) for p in sys.argv[1:3])
print(json.dumps({"base": sys.argv[3], "package_bytes_base": before, "package_bytes_new": after,
                  "ratio": round(after / before, 4)}))
PY
