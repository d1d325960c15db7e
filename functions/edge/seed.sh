#!/usr/bin/env bash
# Copies a model version (any store reference: folder or s3://) into the local R2 that
# `wrangler dev` simulates, in the store's layout: the version's files first, its manifest, then
# the aliases, as `maas publish` orders them. Running it again puts only what changed, so a
# running Worker sees an alias move (after MAAS_REFRESH_SECONDS).
# usage: bash functions/edge/seed.sh --model REF --state DIR [--bucket maas-models]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
model="" state="" bucket="maas-models"
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="${2:?}"; shift 2 ;;
    --state) state="${2:?}"; shift 2 ;;
    --bucket) bucket="${2:?}"; shift 2 ;;
    *) echo "seed.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] && [ -n "$state" ] || { echo "usage: seed.sh --model REF --state DIR [--bucket NAME]" >&2; exit 2; }
state="$(realpath -m "$state")"  # the scripts change directory
maas="${MAAS_BIN:-$(bash "$root/tests/cargo-target.sh")/release/maas}"
[ -x "$maas" ] || (cd "$root" && cargo build --release --quiet --bin maas)
mkdir -p "$state/store"
stamp="$state/seeded.stamp"
"$maas" models copy "$model" --to "$state/store"
put() {
  local key="${1#"$state/store/"}"
  (cd "$here" && WRANGLER_SEND_METRICS=false node_modules/.bin/wrangler r2 object put "$bucket/$key" --file "$1" \
    --local --persist-to "$state/wrangler" >/dev/null 2>"$state/seed.log") \
    || { cat "$state/seed.log" >&2; echo "seed.sh: cannot put $key into the local R2" >&2; exit 1; }
}
changed() { if [ -f "$stamp" ]; then find "$state/store" -type f "$@" -newer "$stamp"; else find "$state/store" -type f "$@"; fi; }
next_stamp="$state/seeded.next"
touch "$next_stamp"
for f in $(changed -path '*/versions/*' ! -name manifest.json); do put "$f"; done
for f in $(changed -path '*/versions/*' -name manifest.json); do put "$f"; done
for f in $(changed -path '*/aliases/*.json'); do put "$f"; done
mv "$next_stamp" "$stamp"
