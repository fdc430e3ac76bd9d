#!/usr/bin/env bash
# README command 1: set up (idempotent), then run the main job on the demo city, and leave its
# API up on http://127.0.0.1:8080 until Ctrl-C. Extra arguments go to `roadsight run`
# (e.g. --json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/target/release/roadsight" run --config "$ROOT/fixtures/demo/city.toml" --keep-serving "$@"
