#!/usr/bin/env bash
# README command 2: set up (idempotent), then check formatting and lints and run every test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
cargo fmt --all --check
cargo clippy --workspace --all-targets --release --quiet -- -D warnings
cargo test --workspace --release
