#!/usr/bin/env python3
"""Differential check of YAML comment placement against the real sops.

Generates YAML documents shaped like hand-written configuration (nested block mappings and
sequences, indentless sequences, 2- or 4-space indentation) with own-line comments at random
lines and columns, blank lines, inline comments and sometimes no final line break, then encrypts each with the real sops and
with ccsecrets (`--encrypted-regex '^$'`, so values and comments stay readable) and compares
the data part of the two outputs byte for byte. Inputs that differ are written to OUT_DIR.

    fuzz/diff-sops.py [--count N] [--seed S] [--out DIR] [--aligned]

Needs SOPS (default .venv/bin/sops) and CCSECRETS (default target/debug/ccsecrets).
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOPS = os.environ.get("SOPS", os.path.join(ROOT, ".venv/bin/sops"))
CCSECRETS = os.environ.get("CCSECRETS", os.path.join(ROOT, "target/debug/ccsecrets"))
KEYS = os.path.join(ROOT, "fixtures/keys/key1.txt")

# --aligned: own-line comments only at the column of the next or the previous content line,
# as people write them; otherwise also at column 0 and two columns left or right.
ALIGNED = False

WORDS = ["host", "port", "user", "name", "image", "replicas", "tls", "pool", "db", "api",
         "token", "timeout", "paths", "tags", "env", "labels", "servers", "retry"]
VALUES = ["1", "20", "true", "off", "db.internal", "a b", "'quoted'", '"dq"', "3.5", "~",
          "x", "registry.example.test/app:1.2"]


def tree(rng, depth):
    """A random value: a mapping, a sequence or a scalar (text)."""
    r = rng.random()
    if depth >= 3 or r < 0.35:
        return rng.choice(VALUES)
    if r < 0.7:
        keys = rng.sample(WORDS, rng.randint(1, 4))
        return [(k, tree(rng, depth + 1)) for k in keys]
    return [tree(rng, depth + 1) for _ in range(rng.randint(1, 3))]


def render(value, indent, col, lines, rng):
    """Block layout of a mapping or sequence at column `col`, appended as (col, text)."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        for k, v in value:
            if isinstance(v, str):
                lines.append((col, f"{k}: {v}"))
            elif not v:
                lines.append((col, f"{k}: []"))
            else:
                lines.append((col, f"{k}:"))
                is_seq = not isinstance(v[0], tuple)
                child = col if is_seq and rng.random() < 0.3 else col + indent
                render(v, indent, child, lines, rng)
    else:
        for item in value:
            if isinstance(item, str):
                lines.append((col, f"- {item}"))
            elif not item:
                lines.append((col, "- []"))
            else:
                # the item's block starts on the dash line or on the next line
                sub = []
                render(item, indent, col + 2, sub, rng)
                if rng.random() < 0.8:
                    first_col, first = sub[0]
                    lines.append((col, "- " + first))
                    lines.extend(sub[1:])
                else:
                    lines.append((col, "-"))
                    lines.extend(sub)


def document(rng):
    indent = rng.choice([2, 4])
    top = [(k, tree(rng, 1)) for k in rng.sample(WORDS, rng.randint(1, 4))]
    lines = []
    render(top, indent, 0, lines, rng)
    out = []
    for i, (col, text) in enumerate(lines):
        # own-line comments (and blank lines) before this line
        while rng.random() < 0.25:
            if rng.random() < 0.2:
                out.append("")
                continue
            prev_col = lines[i - 1][0] if i else 0
            if ALIGNED:
                c = rng.choice([col, col, prev_col])
            else:
                c = rng.choice([0, col, prev_col, max(0, col - 2), col + 2, prev_col + 2])
            out.append(" " * c + f"# c{len(out)}")
        line = " " * col + text
        if rng.random() < 0.1 and not text.endswith(":") and text != "-":
            line += f" # i{len(out)}"
        out.append(line)
    while rng.random() < 0.3:
        out.append(" " * rng.choice([0, 2, 4]) + f"# t{len(out)}")
    # some files end without a final line break
    return "\n".join(out) + ("\n" if rng.random() < 0.8 else "")


def only_kept_comments(sops_out, ours):
    """Whether `ours` is `sops_out` plus comment lines sops dropped (see the YAML emitter:
    where yaml.v3 would overwrite a comment it has not written yet, ccsecrets keeps both)."""
    theirs = sops_out.split(b"\n")
    kept = []
    for line in ours.split(b"\n"):
        if kept == theirs[: len(kept)] and len(kept) < len(theirs) and line == theirs[len(kept)]:
            kept.append(line)
        elif not line.strip().startswith(b"#"):
            return False
    return kept == theirs


def run(cmd, path):
    env = dict(os.environ, SOPS_AGE_KEY_FILE=KEYS)
    p = subprocess.run(cmd + [path], capture_output=True, env=env)
    data = p.stdout.split(b"\nsops:\n")[0] if p.returncode == 0 else None
    return p.returncode, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "fuzz/artifacts/diff-sops"))
    ap.add_argument("--aligned", action="store_true")
    args = ap.parse_args()
    global ALIGNED
    ALIGNED = args.aligned
    recipient = next(l.split(": ")[1].strip() for l in open(KEYS) if "public key" in l)
    flags = ["encrypt", "--age", recipient, "--encrypted-regex", "^$"]
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    same = differ = refused = kept = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.yaml")
        for n in range(args.count):
            text = document(rng)
            with open(path, "w") as f:
                f.write(text)
            s_rc, s_data = run([SOPS] + flags, path)
            c_rc, c_data = run([CCSECRETS] + flags, path)
            if s_rc != 0 and c_rc != 0:
                refused += 1
            elif s_data == c_data:
                same += 1
            elif s_data is not None and c_data is not None and only_kept_comments(s_data, c_data):
                kept += 1
            else:
                differ += 1
                with open(os.path.join(args.out, f"case-{args.seed}-{n}.yaml"), "w") as f:
                    f.write(text)
    print(f"{args.count} documents: {same} same, {kept} same but for comments sops drops, "
          f"{differ} differ, {refused} refused by both (differing inputs in {args.out})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
