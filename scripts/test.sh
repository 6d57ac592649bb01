#!/usr/bin/env bash
# The test command (README, CI): installs the oracles, then fmt, clippy and the whole suite.
#   scripts/test.sh [extra `cargo test` args, e.g. -- --nocapture  or  -p ccsecrets-core]
# Tests find the oracles through CCSECRETS_SOPS / CCSECRETS_AGE (absolute paths exported here)
# and fail — never skip — when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-oracles.sh # also repairs a /dev/null that is a regular file
# Nothing here reads the terminal; a CI runner's stdin must not leak into rustc or the tests.
exec </dev/null

export PATH="$root/.venv/bin:$PATH"
export SOPS_DISABLE_VERSION_CHECK=1
CCSECRETS_SOPS="$root/.venv/bin/sops"
CCSECRETS_AGE=$(command -v age)
export CCSECRETS_SOPS CCSECRETS_AGE
echo "CCSECRETS_SOPS=$CCSECRETS_SOPS"
echo "CCSECRETS_AGE=$CCSECRETS_AGE"

# rustfmt/clippy may be missing from a minimal toolchain.
if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for comp in rustfmt clippy; do
    grep -q "^$comp" <<<"$installed" || rustup component add "$comp"
  done
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked "$@"
