#!/usr/bin/env bash
# `ccsecrets updatekeys -y` over 100 files vs a shell loop of `sops updatekeys -y`, one file
# at a time (what an operator does with sops today).
#
# Usage: scripts/bench-updatekeys.sh [--files 100] [--runs 3] [--no-build]
#
# In a private temp dir (empty HOME, no .sops.yaml above it) it writes a .sops.yaml for key A,
# makes N YAML secrets files (20 values each, nested maps, a list, comments) and encrypts them
# with the real sops. Then, best of --runs, each on fresh copies of the same encrypted files:
#   add:    the rule becomes A,B  (recipients only added: the data key is re-wrapped)
#   remove: the rule becomes B    from files made for A,B (sops re-wraps the same data key;
#           ccsecrets also rotates the data key and re-encrypts every value)
# timing  `ccsecrets updatekeys -y F1 … FN`  vs  `for f in F*; do sops updatekeys -y "$f"; done`
# (wall time from bash's clock), checks that sops decrypts every ccsecrets result with the new
# key set and that the removed key no longer opens it, and prints both times and the ratio
# ccsecrets/sops (below 1: ccsecrets is faster).
set -euo pipefail
[ -n "${EPOCHREALTIME:-}" ] || { echo 'bench-updatekeys.sh needs bash >= 5' >&2; exit 1; }
cd "$(dirname "$0")/.."
root=$PWD

files=100
runs=3
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-updatekeys.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { printf 'bench-updatekeys: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

sops=${CCSECRETS_SOPS:-$root/.venv/bin/sops}
[ -x "$sops" ] || die "no sops at $sops (run scripts/install-oracles.sh or set CCSECRETS_SOPS)"
command -v age-keygen >/dev/null || die "age-keygen is required"
if [ "$build" = 1 ]; then
  say "cargo build --release -p ccsecrets-cli"
  cargo build --release -q -p ccsecrets-cli
fi
ccs="$root/target/release/ccsecrets"
[ -x "$ccs" ] || die "$ccs missing (build it, or drop --no-build)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ccsecrets-bench-updatekeys.XXXXXX")
chmod 700 "$tmp"
trap 'rm -rf "$tmp"' EXIT
d=$tmp
while :; do
  [ -e "$d/.sops.yaml" ] && die "$d/.sops.yaml would interfere; set TMPDIR elsewhere"
  [ "$d" = / ] && break
  d=$(dirname "$d")
done
mkdir -p "$tmp/home" "$tmp/src"
age-keygen -o "$tmp/a.txt" 2>/dev/null
age-keygen -o "$tmp/b.txt" 2>/dev/null
A=$(age-keygen -y "$tmp/a.txt")
B=$(age-keygen -y "$tmp/b.txt")
cat "$tmp/a.txt" "$tmp/b.txt" >"$tmp/ab.txt"

# env_in DIR KEYFILE CMD…: CMD in DIR with a clean environment.
env_in() {
  local dir=$1 keys=$2
  shift 2
  (cd "$dir" && env -i PATH="/usr/bin:/bin" HOME="$tmp/home" SOPS_DISABLE_VERSION_CHECK=1 \
    SOPS_AGE_KEY_FILE="$keys" "$@")
}
rule() { # DIR RECIPIENTS
  printf 'creation_rules:\n    - path_regex: \\.yaml$\n      age: %s\n' "$2" >"$1/.sops.yaml"
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# The inputs, encrypted once by sops for A (set "add") and for A,B (set "remove").
say "making $files files with sops"
for set in add remove; do
  mkdir -p "$tmp/src/$set"
  if [ "$set" = add ]; then rule "$tmp/src/$set" "$A"; else rule "$tmp/src/$set" "$A,$B"; fi
  for i in $(seq -w 1 "$files"); do
    {
      echo "# secrets file $i (benchmark data)"
      echo "service: svc-$i"
      echo "db:"
      for j in 1 2 3 4 5 6; do echo "    user$j: user-$i-$j"; echo "    password$j: pw-$RANDOM$RANDOM-$i-$j"; done
      echo "api:"
      for j in 1 2 3; do echo "    token$j: tok-$RANDOM$RANDOM$RANDOM"; done
      echo "hosts:"
      for j in 1 2 3 4; do echo "    - host$j.example.test"; done
    } >"$tmp/src/$set/f$i.yaml"
  done
  (cd "$tmp/src/$set" && for f in f*.yaml; do
    env -i PATH="/usr/bin:/bin" HOME="$tmp/home" SOPS_DISABLE_VERSION_CHECK=1 "$sops" encrypt -i "$f"
  done)
done

# fresh TOOL SET: a copy of the encrypted files with the new rule; prints its dir.
fresh() {
  local dir="$tmp/run-$1-$2"
  rm -rf "$dir"
  cp -a "$tmp/src/$2" "$dir"
  if [ "$2" = add ]; then rule "$dir" "$A,$B"; else rule "$dir" "$B"; fi
  echo "$dir"
}

best() { sort -n | head -n1; }
results=()
for set in add remove; do
  ccs_times=()
  sops_times=()
  for _ in $(seq "$runs"); do
    dir=$(fresh ccs "$set")
    t0=$(now_ms)
    env_in "$dir" "$tmp/ab.txt" "$ccs" updatekeys -y $(cd "$dir" && ls f*.yaml) >/dev/null 2>&1
    t1=$(now_ms)
    ccs_times+=($((t1 - t0)))

    dir=$(fresh sops "$set")
    t0=$(now_ms)
    env_in "$dir" "$tmp/ab.txt" sh -c 'for f in f*.yaml; do "$0" updatekeys -y "$f" >/dev/null 2>&1 || exit 1; done' "$sops"
    t1=$(now_ms)
    sops_times+=($((t1 - t0)))
  done

  # Check the last ccsecrets run with sops: the new keys open every file, a removed key none.
  dir="$tmp/run-ccs-$set"
  for f in "$dir"/f*.yaml; do
    env_in "$dir" "$tmp/b.txt" "$sops" decrypt "$f" >/dev/null || die "$set: sops cannot open $f with B"
    if [ "$set" = remove ] && env_in "$dir" "$tmp/a.txt" "$sops" decrypt "$f" >/dev/null 2>&1; then
      die "$set: the removed key A still opens $f"
    fi
    cmp -s <(env_in "$dir" "$tmp/b.txt" "$sops" decrypt "$f") \
      <(env_in "$tmp/src/$set" "$tmp/a.txt" "$sops" decrypt "$tmp/src/$set/$(basename "$f")") ||
      die "$set: $f decrypts to something else than before"
  done

  c=$(printf '%s\n' "${ccs_times[@]}" | best)
  s=$(printf '%s\n' "${sops_times[@]}" | best)
  ratio=$(awk -v c="$c" -v s="$s" 'BEGIN { printf "%.3f", c / s }')
  results+=("$(printf '%-7s %6d files  ccsecrets %7d ms   sops loop %7d ms   ratio %s' "$set" "$files" "$c" "$s" "$ratio")")
done

echo "updatekeys -y, best of $runs ($("$sops" --disable-version-check --version | head -n1), ccsecrets $("$ccs" --version 2>/dev/null | head -n1))"
printf '%s\n' "${results[@]}"
echo "checked: sops opens every ccsecrets result with the new keys; after removal the old key opens none"
