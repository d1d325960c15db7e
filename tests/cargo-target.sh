#!/usr/bin/env bash
# Prints the target directory cargo builds into for a manifest (default: the workspace's), as
# `cargo metadata` reports it: CARGO_TARGET_DIR and .cargo/config.toml's build.target-dir are
# honoured, so scripts find cargo's output where cargo put it.
# usage: bash tests/cargo-target.sh [path/to/Cargo.toml]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
manifest="${1:-$root/Cargo.toml}"
# cargo reads .cargo/config.toml from the folder it runs in, so run it beside the manifest
(cd "$(dirname "$manifest")" && cargo metadata --format-version 1 --no-deps --manifest-path "$manifest") \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
