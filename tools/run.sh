#!/usr/bin/env bash
# Builds vidclass (release) after installing what it needs, then runs it with the given arguments:
#   bash tools/run.sh predict clip.mp4
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/tools/setup-debian.sh"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml"
exec "$root/target/release/vidclass" "$@"
