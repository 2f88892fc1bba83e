#!/usr/bin/env bash
# The project's whole check, as CI runs it: system packages, formatting, lints, doc links, tests.
# Benchmarks are built (clippy checks them) but not run; run them with `cargo bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The library builds without the command line's crates, as a dependency may take it.
cargo check --lib --no-default-features --locked --quiet
# Doc comments' links stay valid, private items' included (the next engineer reads those too).
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --document-private-items --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --lib --bins --tests 2>&1 | tee "$log"
# The crate docs' examples compile (cargo runs them apart from the other targets).
cargo test --locked --doc 2>&1 | tee -a "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "all tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
