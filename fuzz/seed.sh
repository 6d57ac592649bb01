#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (git-ignored) with seeds from fixtures/: the sops test files
# for the stores and encrypted_file, and the `AAD\nENC[…]` values of fixtures/vectors for
# enc_value. Idempotent; keeps whatever the fuzzer already added.
set -euo pipefail
cd "$(dirname "$0")"
fx=../fixtures
mkdir -p corpus/yaml_store corpus/json_store corpus/enc_value corpus/encrypted_file \
  corpus/dotenv_store corpus/ini_store corpus/binary_store

for f in "$fx"/sops/*.yaml "$fx"/sops/rules/*.yaml "$fx"/vectors/*.yaml; do
  [ -f "$f" ] && cp "$f" "corpus/yaml_store/$(basename "$f")"
done
for f in "$fx"/sops/*.json; do
  [ -f "$f" ] && cp "$f" "corpus/json_store/$(basename "$f")"
done
for f in "$fx"/sops/*.enc.yaml "$fx"/sops/*.enc.json "$fx"/vectors/deterministic.enc.yaml; do
  [ -f "$f" ] && cp "$f" "corpus/encrypted_file/$(basename "$f")"
done
for f in "$fx"/sops/*.env; do
  cp "$f" "corpus/dotenv_store/$(basename "$f")"
done
for f in "$fx"/sops/*.ini; do
  cp "$f" "corpus/ini_store/$(basename "$f")"
done
printf '[a]\nb = c\nd = e.f\n\n[g]\nh = i\n' >corpus/ini_store/plain-seed.ini
for f in "$fx"/sops/app.yaml "$fx"/sops/app.env "$fx"/sops/app.json "$fx"/keys/ssh_ed25519.pub; do
  cp "$f" "corpus/binary_store/$(basename "$f")"
done
python3 - "$fx/vectors/vectors.json" corpus/enc_value <<'PY'
import json, sys
vectors, out = json.load(open(sys.argv[1])), sys.argv[2]
values = vectors.get("values", []) + [v for v in [vectors.get("comment")] if isinstance(v, dict)]
for i, v in enumerate(values):
    if "enc" in v and "aad" in v:
        open(f"{out}/vector{i}", "w").write(v["aad"] + "\n" + v["enc"])
    if "plaintext" in v:
        open(f"{out}/plain{i}", "w").write(str(v.get("aad", "")) + "\n" + str(v["plaintext"]))
for i, s in enumerate(["2001-12-14T21:59:43.1-05:00", "-9223372036854775808", "1e308", "NaN", "True", ""]):
    open(f"{out}/extra{i}", "w").write("a:b:\n" + s)
PY
for t in yaml_store json_store enc_value encrypted_file dotenv_store ini_store binary_store; do
  printf '%-15s %s seeds\n' "$t" "$(ls corpus/$t | wc -l)"
done
