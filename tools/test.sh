#!/usr/bin/env bash
# The project's whole check, as CI runs it: system packages, formatting, lints, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
