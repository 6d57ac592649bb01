#!/usr/bin/env bash
# ccsecrets vs the real sops on generated YAML files, in one run.
#
# Usage: scripts/bench.sh [--sizes "1000 10000 100000"] [--runs 3] [--no-build] [--rops]
#
# For each size N it generates a YAML file with N leaf values (nested maps, lists of scalars
# and of maps, strings, multi-line strings, ints, floats, booleans, a few comments), encrypts
# it with sops, then times, best of --runs:
#   decrypt: `sops decrypt F.enc.yaml`  vs `ccsecrets decrypt F.enc.yaml`
#   encrypt: `sops encrypt --age R F.yaml` vs `ccsecrets encrypt --age R F.yaml`
# with `/usr/bin/time -f '%e %M'` (peak RSS; wall time in ms from bash's clock around it), and prints a table with the
# ratios ccsecrets/sops (below 1: ccsecrets is faster / smaller). Checks:
#   decrypt: ccsecrets's output is byte-identical to sops's (OK/DIFF);
#   encrypt: sops decrypts ccsecrets's output to the same bytes as sops's own (OK/DIFF).
# --rops adds rops (`cargo install rops-cli --locked`, if `rops` is not on PATH yet) decrypting
# the sops file without its comments (ROPS_AGE; rops has no encrypted comments); rops is
# skipped with a note when it is missing or does not install.
#
# Everything (keys included) lives in a private temp dir removed on exit; HOME points into it
# and no .sops.yaml is above it. No network is used (sops's version check is off), except for
# the optional installs (Debian `time`, rops-cli).
set -euo pipefail
[ -n "${EPOCHREALTIME:-}" ] || { echo 'bench.sh needs bash >= 5' >&2; exit 1; }
cd "$(dirname "$0")/.."
root=$PWD

sizes="1000 10000 100000"
runs=3
build=1
with_rops=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --rops) with_rops=1; shift ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- tools -----------------------------------------------------------------------------------
sops=""
for cand in "$root/.venv/bin/sops" /work/main/.venv/bin/sops; do
  if [ -x "$cand" ]; then sops=$cand; break; fi
done
[ -n "$sops" ] || die "no sops in .venv/bin (run scripts/install-oracles.sh)"

if [ ! -x /usr/bin/time ]; then
  say "installing Debian's time (for /usr/bin/time)"
  [ "$(id -u)" -eq 0 ] || die "/usr/bin/time missing: apt-get install time"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
fi
command -v python3 >/dev/null || die "python3 is needed to generate the inputs"

if [ "$build" = 1 ]; then
  say "cargo build --release -p ccsecrets-cli"
  cargo build --release -q -p ccsecrets-cli
fi
ccs="$root/target/release/ccsecrets"
[ -x "$ccs" ] || die "$ccs missing (build it, or drop --no-build)"

rops=""
if [ "$with_rops" = 1 ]; then
  if command -v rops >/dev/null; then
    rops=$(command -v rops)
  else
    say "cargo install rops-cli --locked (optional; skipped if it fails)"
    if timeout 900 cargo install rops-cli --locked -q >&2; then
      rops=$(command -v rops || echo "$HOME/.cargo/bin/rops")
    else
      say "rops-cli did not install: rops skipped"
    fi
  fi
fi

# --- private workspace -----------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ccsecrets-bench.XXXXXX")
chmod 700 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home"
key="$tmp/key.txt"
if command -v age-keygen >/dev/null; then
  age-keygen -o "$key" 2>/dev/null
else
  "$ccs" keygen -o "$key" 2>/dev/null
fi
recipient=$(sed -n 's/^# public key: //p' "$key")
[ -n "$recipient" ] || die "could not read the recipient of the generated key"
secret=$(grep '^AGE-SECRET-KEY-' "$key")

# A clean environment for every tool: only what it needs.
tool_env=(env -i PATH="$PATH" HOME="$tmp/home" SOPS_AGE_KEY_FILE="$key"
  SOPS_DISABLE_VERSION_CHECK=1 ROPS_AGE="$secret")

# --- inputs ----------------------------------------------------------------------------------
gen() { # gen N FILE
  python3 - "$1" "$2" <<'PY'
import random, sys

n, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(20240601 + n)
words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray").split()

def word():
    return rng.choice(words) + str(rng.randrange(1000))

def scalar():
    r = rng.random()
    if r < 0.45:
        return word() + "-" + "".join(rng.choice("abcdef0123456789") for _ in range(rng.randrange(8, 40)))
    if r < 0.65:
        return str(rng.randrange(-10**9, 10**12))
    if r < 0.75:
        return "%d.%d" % (rng.randrange(10**6), rng.randrange(1, 1000))
    if r < 0.85:
        return rng.choice(["true", "false"])
    if r < 0.90:
        return '"%s: quoted, with # and \'"' % word()
    return None  # multi-line block

out = []
left = n

def emit_leaf(indent, key):
    v = scalar()
    pad = " " * indent
    if v is None:
        out.append("%s%s: |" % (pad, key))
        for _ in range(rng.randrange(2, 5)):
            out.append("%s    %s %s %s" % (pad, word(), word(), word()))
    else:
        out.append("%s%s: %s" % (pad, key, v))

def emit_map(indent, budget, depth):
    used = 0
    i = 0
    while used < budget:
        i += 1
        key = "%s_%d" % (word(), i)
        pad = " " * indent
        if rng.random() < 0.03:
            out.append("%s# %s %s" % (pad, word(), word()))
        room = budget - used
        kind = rng.random() if depth < 4 and room >= 4 else 0
        if kind > 0.8:
            take = min(room, rng.randrange(2, 30))
            out.append("%s%s:" % (pad, key))
            emit_map(indent + 4, take, depth + 1)
        elif kind > 0.7:
            take = min(room, rng.randrange(2, 12))
            out.append("%s%s:" % (pad, key))
            for _ in range(take):
                v = scalar() or word()
                out.append("%s    - %s" % (pad, v))
        elif kind > 0.6:
            items = min(room // 2, rng.randrange(1, 6))
            take = items * 2
            out.append("%s%s:" % (pad, key))
            for _ in range(items):
                out.append("%s    - name: %s" % (pad, word()))
                out.append("%s      value: %s" % (pad, scalar() or word()))
        else:
            take = 1
            emit_leaf(indent, key)
        used += take

out.append("# generated by scripts/bench.sh: %d leaf values" % n)
per = max(1, n // 20)
sec = 0
while left > 0:
    sec += 1
    take = min(left, per)
    out.append("section_%d:" % sec)
    emit_map(4, take, 1)
    left -= take
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
PY
}

# --- timing ----------------------------------------------------------------------------------
# stdin of the measured command (rops reads its input from stdin).
stdin_file=/dev/null
# measure OUT CMD...: runs CMD $runs times (stdout to OUT), prints "best_wall_ms best_rss_kib".
# Wall time comes from bash's EPOCHREALTIME around the call (/usr/bin/time's %e has only
# 10 ms resolution); peak RSS is /usr/bin/time's %M.
measure() {
  local out=$1; shift
  local best_t="" best_m="" t m i t0 t1
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -f '%e %M' -o "$tmp/time" "${tool_env[@]}" "$@" <"$stdin_file" >"$out" 2>"$tmp/stderr"; then
      say "FAILED: $* ($(head -c 300 "$tmp/stderr"))"
      echo "fail fail"
      return 0
    fi
    t1=$EPOCHREALTIME
    read -r _ m <"$tmp/time"
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", (b-a)*1000}')
    if [ -z "$best_t" ] || awk -v a="$t" -v b="$best_t" 'BEGIN{exit !(a<b)}'; then best_t=$t; fi
    if [ -z "$best_m" ] || [ "$m" -lt "$best_m" ]; then best_m=$m; fi
  done
  echo "$best_t $best_m"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="fail"||b=="fail"||b==0) print "-"; else printf "%.2f", a/b }'; }
mib() { awk -v k="$1" 'BEGIN{ if (k=="fail") print "fail"; else printf "%.1f", k/1024 }'; }

rows=()
row() { rows+=("$(printf '%-8s %-8s %-8s | %8s %8s %6s | %8s %8s %6s | %s' "$@")"); }

cd "$tmp"
for n in $sizes; do
  f="doc$n"
  gen "$n" "$f.yaml"
  "${tool_env[@]}" "$sops" encrypt --age "$recipient" "$f.yaml" >"$f.enc.yaml" ||
    die "sops could not encrypt $f.yaml"
  size_plain=$(du -h "$f.yaml" | cut -f1)
  size_enc=$(du -h "$f.enc.yaml" | cut -f1)
  say "N=$n: $f.yaml $size_plain, $f.enc.yaml $size_enc"

  # decrypt
  read -r st sm < <(measure "$f.sops.dec" "$sops" decrypt "$f.enc.yaml")
  read -r ct cm < <(measure "$f.ccs.dec" "$ccs" decrypt "$f.enc.yaml")
  check=DIFF
  [ "$ct" != fail ] && cmp -s "$f.sops.dec" "$f.ccs.dec" && check=OK
  row "$n" decrypt ccsecrets "$st" "$ct" "$(ratio "$ct" "$st")" "$(mib "$sm")" "$(mib "$cm")" "$(ratio "$cm" "$sm")" "$check"
  if [ -n "$rops" ]; then
    # rops cannot read encrypted comments (`type:comment`): it gets the same file without
    # its comment lines, and sops is timed again on that file for its row.
    grep -v '^[[:space:]]*#' "$f.yaml" >"$f.nc.yaml"
    "${tool_env[@]}" "$sops" encrypt --age "$recipient" "$f.nc.yaml" >"$f.nc.enc.yaml"
    read -r st2 sm2 < <(measure "$f.nc.sops.dec" "$sops" decrypt "$f.nc.enc.yaml")
    stdin_file="$f.nc.enc.yaml"
    read -r rt rm < <(measure "$f.rops.dec" "$rops" decrypt -f yaml)
    stdin_file=/dev/null
    # rops formats YAML its own way (2-space indent): compare the data, not the bytes.
    rcheck=DIFF
    [ "$rt" != fail ] && python3 -c 'import sys, yaml
a, b = (yaml.safe_load(open(p)) for p in sys.argv[1:])
sys.exit(a != b)' "$f.nc.sops.dec" "$f.rops.dec" 2>/dev/null && rcheck="OK (data)"
    row "$n" decrypt "rops*" "$st2" "$rt" "$(ratio "$rt" "$st2")" "$(mib "$sm2")" "$(mib "$rm")" "$(ratio "$rm" "$sm2")" "$rcheck"
  fi

  # encrypt
  read -r st sm < <(measure "$f.sops.enc" "$sops" encrypt --age "$recipient" "$f.yaml")
  read -r ct cm < <(measure "$f.ccs.enc" "$ccs" encrypt --age "$recipient" "$f.yaml")
  check=DIFF
  if [ "$ct" != fail ] &&
    "${tool_env[@]}" "$sops" decrypt --input-type yaml --output-type yaml "$f.ccs.enc" >"$f.ccs.enc.dec" 2>/dev/null &&
    cmp -s "$f.sops.dec" "$f.ccs.enc.dec"; then
    check=OK
  fi
  row "$n" encrypt ccsecrets "$st" "$ct" "$(ratio "$ct" "$st")" "$(mib "$sm")" "$(mib "$cm")" "$(ratio "$cm" "$sm")" "$check"
done

echo
echo "ccsecrets vs sops ($("${tool_env[@]}" "$sops" --version 2>/dev/null | head -1)), best of $runs, $(nproc) cores"
printf '%-8s %-8s %-8s | %8s %8s %6s | %8s %8s %6s | %s\n' \
  leaves op tool "sops ms" "tool ms" ratio "sops MiB" "tool MiB" ratio check
printf '%s\n' "-------------------------------------------------------------------------------------"
printf '%s\n' "${rows[@]}"
if [ "$with_rops" = 1 ] && [ -z "$rops" ]; then echo "(rops: not installed, skipped)"; fi
if [ -n "$rops" ]; then
  rver=$(cargo install --list 2>/dev/null | sed -n 's/^rops-cli \(v[^:]*\):.*/\1/p')
  echo "rops*: rops-cli ${rver:-(version unknown)} on the same file without its comment lines (rops cannot"
  echo "       decrypt type:comment values); its sops column is sops on that file; check compares the YAML data"
fi
