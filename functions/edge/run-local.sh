#!/usr/bin/env bash
# Runs the edge worker on this machine under workerd (`wrangler dev`, local mode: no Cloudflare
# account, no network): builds it, seeds the local R2 with the model REF names (any store
# reference: a folder or s3://), and serves 127.0.0.1:PORT until stopped (kill its pid).
# usage: bash functions/edge/run-local.sh --model REF --port P [--refresh-seconds N]
#        [--state DIR] [--bundle] [--var NAME:VALUE]...
# --refresh-seconds: how often a warm isolate checks the alias (default 60; 0: never)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
model="" port="" refresh=60 state="" bundle=0
vars=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="${2:?}"; shift 2 ;;
    --port) port="${2:?}"; shift 2 ;;
    --refresh-seconds) refresh="${2:?}"; shift 2 ;;
    --state) state="${2:?}"; shift 2 ;;
    --bundle) bundle=1; shift ;;
    --var) vars+=(--var "${2:?}"); shift 2 ;;
    *) echo "run-local.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] && [ -n "$port" ] || { echo "usage: run-local.sh --model REF --port P [--refresh-seconds N] [--state DIR] [--bundle] [--var NAME:VALUE]" >&2; exit 2; }
[ -x "$here/node_modules/.bin/wrangler" ] || { echo "run-local.sh: wrangler is not installed: bash functions/edge/setup.sh" >&2; exit 1; }
state="${state:-$here/.local-state}"
state="$(realpath -m "$state")"  # the scripts change directory
mkdir -p "$state"
# the name and selector the Worker reads from the bucket: what follows the store in REF
selector="${model##*/}"
if [ "$bundle" = 1 ]; then
  bash "$here/build.sh" --bundle "$model"
else
  bash "$here/build.sh"
  bash "$here/seed.sh" --model "$model" --state "$state"
fi
# 0: no alias checks (the variable unset, as in the function)
[ "$refresh" = 0 ] || vars+=(--var "MAAS_REFRESH_SECONDS:$refresh")
cd "$here"
export WRANGLER_SEND_METRICS=false
exec node_modules/.bin/wrangler dev --local --ip 127.0.0.1 --port "$port" --inspector-port 0 \
  --persist-to "$state/wrangler" --show-interactive-dev-session=false \
  --var "MAAS_MODEL:$selector" "${vars[@]}"
