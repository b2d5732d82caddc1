#!/usr/bin/env bash
# Compiles every library and application source (src/, apps/) once more with Clang, syntax and
# warnings only (-fsyntax-only -Werror), with the flags of the dev build (build/compile_commands.json,
# so run scripts/build.sh dev first) minus its GCC precompiled header. Users build baims with
# their own compiler, and GCC accepts some C++20 that Clang 14 (Debian bookworm's) does not, e.g.
# a lambda that captures a structured binding; the dev and CI builds are GCC's.
# Usage: scripts/clang-check.sh [BUILD_DIR] (default build). CLANGXX chooses the compiler (default:
# the first of clang++, clang++-14 .. clang++-19 on PATH). Exit 0: all clean; 1: a source has a
# warning or error (printed); 2: no Clang or no compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cxx=${CLANGXX:-}
if [ -z "$cxx" ]; then
    for c in clang++ clang++-14 clang++-15 clang++-16 clang++-17 clang++-18 clang++-19; do
        if command -v "$c" >/dev/null; then
            cxx=$c
            break
        fi
    done
fi
if [ -z "$cxx" ]; then
    echo "clang-check.sh: error: no clang++ on PATH; install Debian's clang-14 (scripts/install-deps.sh test) or set CLANGXX" >&2
    exit 2
fi
if [ ! -f "$build/compile_commands.json" ]; then
    echo "clang-check.sh: error: no $build/compile_commands.json; run scripts/build.sh dev first" >&2
    exit 2
fi
exec /usr/bin/python3 -S - "$cxx" "$build/compile_commands.json" "$PWD" <<'EOF'
import json, os, shlex, subprocess, sys

cxx, db, top = sys.argv[1], sys.argv[2], sys.argv[3]
roots = (os.path.join(top, "src") + os.sep, os.path.join(top, "apps") + os.sep)
failed = 0
checked = 0
for entry in json.load(open(db)):
    source = os.path.abspath(os.path.join(entry["directory"], entry["file"]))
    if not source.startswith(roots) or not source.endswith(".cpp"):
        continue
    args = entry.get("arguments") or shlex.split(entry["command"])
    out = [cxx]
    i = 1
    while i < len(args):
        a = args[i]
        if a in ("-o", "-include", "-MF", "-MT", "-MQ"):
            i += 2  # the object, GCC's precompiled header, dependency files
            continue
        if a in ("-c", "-MD", "-MMD", "-Winvalid-pch") or a == entry["file"] or a == source:
            i += 1
            continue
        out.append(a)
        i += 1
    out += ["-fsyntax-only", "-Werror", "-Wno-unknown-warning-option", source]
    r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
    checked += 1
    if r.returncode != 0:
        failed += 1
        sys.stderr.write(r.stderr)
if checked == 0:
    sys.exit("clang-check.sh: error: no src/ or apps/ source in " + db)
print(f"clang-check.sh: {checked} sources checked with {cxx}, {failed} with warnings or errors")
sys.exit(1 if failed else 0)
EOF
