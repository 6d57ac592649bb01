#!/usr/bin/env bash
# The main job on the bundled example instance (fixtures/example-instance):
#   1. install the oracles (real sops, age, git) and build ccsecrets;
#   2. the cold rebuild: `ccsecrets rebuild-check --example` commits the example base and
#      instance into temporary git repos, serves them with `git daemon` on 127.0.0.1, and in a
#      clean environment (empty HOME, only the *test* bootstrap key) clones both with gix,
#      runs `check` without and with the key, `install`s into a scratch root, verifies every
#      secret's path, mode and content, and completes a real TLS handshake with the installed
#      certificate (SNI drone.ci.example.test, verified against the test CA). The evidence
#      (commit ids, public key fingerprints, every step with its duration; no secret) goes to
#      target/rebuild-evidence.json;
#   3. decrypt the instance secrets and check that the real sops prints exactly the same
#      plaintext, then re-encrypt them with ccsecrets and check that sops agrees.
# Plaintext only ever lives in private temp directories outside the repo, removed on exit;
# nothing secret is printed (only key names, sizes and SHA-256 digests of the whole file).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-oracles.sh >/dev/null
export PATH="$root/.venv/bin:$PATH" SOPS_DISABLE_VERSION_CHECK=1
cargo build --release --locked -q -p ccsecrets-cli
ccs="$root/target/release/ccsecrets"

echo "== cold rebuild of the example instance"
"$ccs" rebuild-check --example --evidence "$root/target/rebuild-evidence.json"
echo

instance=fixtures/example-instance
secrets=$instance/secrets/secrets.yaml
key=fixtures/keys/key1.txt

umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ccsecrets-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# A clean environment: only the bootstrap key, no other identity source.
run() { env -i PATH="$PATH" HOME="$tmp/home" SOPS_DISABLE_VERSION_CHECK=1 SOPS_AGE_KEY_FILE="$root/$key" "$@"; }
mkdir -p "$tmp/home"

echo "== example instance: $instance"
echo "   bootstrap (test) key: $key -> $(age-keygen -y "$key")"

run "$ccs" decrypt "$secrets" >"$tmp/ours.yaml"
run sops decrypt "$secrets" >"$tmp/sops.yaml"
if cmp -s "$tmp/ours.yaml" "$tmp/sops.yaml"; then
  echo "ok  ccsecrets decrypt == sops decrypt ($(wc -c <"$tmp/ours.yaml") bytes, sha256 $(sha256sum <"$tmp/ours.yaml" | cut -c1-16)…)"
else
  echo "FAIL ccsecrets and sops decrypt the instance secrets differently" >&2
  exit 1
fi

echo "   secrets in the file (names only):"
run "$ccs" decrypt "$secrets" | grep -E '^[a-z_]+:|^    [a-z_]+:' | sed -E 's/:.*$//; s/^/     /'

# Re-encrypt with ccsecrets through the instance's own .sops.yaml creation rule.
mkdir -p "$tmp/instance/secrets"
cp "$instance/.sops.yaml" "$tmp/instance/"
cp "$tmp/ours.yaml" "$tmp/instance/secrets/secrets.yaml"
(cd "$tmp/instance" && run "$ccs" encrypt --in-place secrets/secrets.yaml)
run sops decrypt "$tmp/instance/secrets/secrets.yaml" >"$tmp/roundtrip.yaml"
if cmp -s "$tmp/roundtrip.yaml" "$tmp/sops.yaml"; then
  echo "ok  sops decrypts the file ccsecrets re-encrypted to the same plaintext"
else
  echo "FAIL sops decrypts ccsecrets's re-encrypted file differently" >&2
  exit 1
fi
status=$(run sops filestatus "$tmp/instance/secrets/secrets.yaml")
echo "ok  sops filestatus of ccsecrets's file: $status"
[ "$status" = '{"encrypted":true}' ]
echo "== done: the example instance opens with its one bootstrap key, and sops agrees."
