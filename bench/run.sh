#!/usr/bin/env bash
# Skein vs Lua 5.4 vs CPython 3, side by side, on the peers' benchmark programs.
#
# Usage: bench/run.sh [-r RUNS] [-o FILE] [--no-build] [ONLY_REGEX]
#   -r RUNS      hyperfine timed runs per program (default 5; warmup is 1)
#   -o FILE      also write the markdown table to FILE
#   --no-build   do not run `cargo build --release` first
#   ONLY_REGEX   run only the workloads whose name matches (grep -E), e.g. 'fib|loop'
#
# Environment:
#   PEERS   directory of the peer programs (default: ../shared/bench/peers
#           relative to the repository root)
#   SKEIN   the Skein binary (default: $CARGO_TARGET_DIR/release/skein, or
#           target/release/skein at the repository root)
#   PYTHON  the CPython binary (default: /usr/bin/python3, the distro's PGO/LTO
#           build, when present, else python3 on PATH resolved past pyenv shims)
#   LUA     the Lua binary (default: lua5.4)
#
# For every workload the three programs first run once each and must print the
# same `checksum ...` line (a mismatch, a crash or a missing line stops the
# script with exit status 1). Then one hyperfine invocation times all three
# (--warmup 1, -r RUNS, no intermediate shell), so they share the machine's
# conditions. The table gives mean wall seconds (process start-up included),
# the ratios, and whether the performance targets hold: fib, loop,
# method_call and binary_trees must run in at most 1.0x Lua's time and at most
# 0.5x CPython's; strings and nbody are reported only. The machine may be
# shared: hyperfine's progress and standard deviations go to stderr.
# Missing lua5.4 / hyperfine are installed with apt-get (one `apt-get update`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

usage() {
  sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}

RUNS=5
OUTFILE=""
BUILD=1
ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    -r) [ $# -ge 2 ] || die "-r needs a number"; RUNS=$2; shift 2 ;;
    -r*) RUNS=${1#-r}; shift ;;
    -o) [ $# -ge 2 ] || die "-o needs a file"; OUTFILE=$2; shift 2 ;;
    -o*) OUTFILE=${1#-o}; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$ONLY" ] || die "only one workload regex may be given"; ONLY=$1; shift ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-r wants a positive integer, got '$RUNS'"

# The workloads: name, Skein program (in bench/), peer directory, peer
# arguments, and whether the performance targets apply ("target") or the row
# is reported only ("report"). fib36 is the peers' "fib(36) sized" row (about
# one second of Lua); its peers take the size as an argument.
WORKLOADS=(
  "fib         fib.sk          fib          -   target"
  "fib36       fib36.sk        fib          36  target"
  "loop        loop.sk         loop         -   target"
  "binary_trees binary_trees.sk binary_trees -  target"
  "method_call method_call.sk  method_call  -   target"
  "strings     strings.sk      strings      -   report"
  "nbody       nbody.sk        nbody        -   report"
)

# Peer programs: an explicit PEERS wins; otherwise the shared checkout that
# sits beside the repository root.
if [ -n "${PEERS:-}" ]; then
  [ -d "$PEERS" ] || die "PEERS=$PEERS is not a directory"
  PEERS=$(cd "$PEERS" && pwd)
elif [ -d "$ROOT/../shared/bench/peers" ]; then
  PEERS=$(cd "$ROOT/../shared/bench/peers" && pwd)
else
  die "peer programs not found at $ROOT/../shared/bench/peers; set PEERS=DIR"
fi

# Tools: install what is missing, with a single apt-get update.
LUA=${LUA:-lua5.4}
MISSING=()
command -v "$LUA" >/dev/null 2>&1 || MISSING+=(lua5.4)
command -v hyperfine >/dev/null 2>&1 || MISSING+=(hyperfine)
if [ ${#MISSING[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to install ${MISSING[*]}"
    SUDO=sudo
  fi
  echo "# installing ${MISSING[*]}" >&2
  $SUDO apt-get update >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${MISSING[@]}" >&2
fi
command -v "$LUA" >/dev/null 2>&1 || die "$LUA not found"
command -v hyperfine >/dev/null 2>&1 || die "hyperfine not found"

if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then
    PYTHON=/usr/bin/python3
  else
    # sys.executable names the real interpreter, not a pyenv shim, so the
    # shim's start-up cost is not measured.
    PYTHON=$(python3 -c 'import sys; print(sys.executable)')
  fi
fi

if [ "$BUILD" = 1 ]; then
  echo "# cargo build --release" >&2
  (cd "$ROOT" && cargo build --release >&2)
fi
if [ -z "${SKEIN:-}" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    SKEIN=$CARGO_TARGET_DIR/release/skein
  else
    SKEIN=$ROOT/target/release/skein
  fi
fi
[ -x "$SKEIN" ] || die "Skein binary $SKEIN not found (build it, or set SKEIN=PATH)"

TMP=$(mktemp -d -t skein-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# checksum_of NAME CMD...: runs CMD once and prints its last `checksum ...`
# line; dies when the program fails or prints none.
checksum_of() {
  local name=$1
  shift
  local out rc=0
  out=$("$@" 2>"$TMP/stderr") || rc=$?
  if [ "$rc" != 0 ]; then
    echo "---- $name exited with status $rc; stderr tail:" >&2
    tail -n 20 "$TMP/stderr" >&2
    die "$name failed: $*"
  fi
  local line
  line=$(printf '%s\n' "$out" | grep '^checksum ' | tail -n 1 || true)
  [ -n "$line" ] || die "$name printed no checksum line: $*"
  printf '%s\n' "$line"
}

{
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
  echo "# versions: $("$LUA" -v 2>&1 | cut -d' ' -f1-2); $("$PYTHON" --version) ($PYTHON); $(hyperfine --version); skein $SKEIN"
  echo "# peers: $PEERS"
} >&2

ROWS=()
SELECTED=0
for spec in "${WORKLOADS[@]}"; do
  read -r name sk peer args kind <<<"$spec"
  if [ -n "$ONLY" ] && ! grep -Eq -- "$ONLY" <<<"$name"; then
    continue
  fi
  SELECTED=$((SELECTED + 1))
  PEER_ARGS=()
  [ "$args" = - ] || PEER_ARGS=("$args")
  SK_CMD=("$SKEIN" "$HERE/$sk")
  LUA_CMD=("$LUA" "$PEERS/$peer/main.lua" "${PEER_ARGS[@]}")
  PY_CMD=("$PYTHON" "$PEERS/$peer/main.py" "${PEER_ARGS[@]}")
  for f in "$HERE/$sk" "$PEERS/$peer/main.lua" "$PEERS/$peer/main.py"; do
    [ -f "$f" ] || die "$name: missing program $f"
  done

  echo "# $name: checking checksums" >&2
  c_sk=$(checksum_of "skein $name" "${SK_CMD[@]}")
  c_lua=$(checksum_of "lua $name" "${LUA_CMD[@]}")
  c_py=$(checksum_of "python $name" "${PY_CMD[@]}")
  if [ "$c_sk" != "$c_lua" ] || [ "$c_sk" != "$c_py" ]; then
    {
      echo "CHECKSUM MISMATCH in $name:"
      echo "  skein:  $c_sk"
      echo "  lua:    $c_lua"
      echo "  python: $c_py"
    } >&2
    die "$name: the programs disagree"
  fi
  echo "#   $c_sk" >&2

  # hyperfine -N splits each command like a shell would, so quote the words.
  hyperfine -N --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$TMP/$name.json" \
    --command-name skein "$(printf '%q ' "${SK_CMD[@]}")" \
    --command-name lua "$(printf '%q ' "${LUA_CMD[@]}")" \
    --command-name python "$(printf '%q ' "${PY_CMD[@]}")" >&2

  row=$("$PYTHON" - "$TMP/$name.json" "$name" "$kind" <<'PYEOF'
import json
import sys

path, name, kind = sys.argv[1:4]
means = {r["command"]: r["mean"] for r in json.load(open(path))["results"]}
sk, lua, py = means["skein"], means["lua"], means["python"]
r_lua, r_py = sk / lua, sk / py
if kind == "target":
    # The issue's targets: at most 1.0x Lua 5.4 and at most 0.5x CPython.
    misses = []
    if r_lua > 1.0:
        misses.append("lua")
    if r_py > 0.5:
        misses.append("python")
    verdict = "yes" if not misses else "**no** (" + ", ".join(misses) + ")"
else:
    verdict = "report only"
print(f"| {name} | {sk:.3f} | {lua:.3f} | {py:.3f} | {r_lua:.2f}x | {r_py:.2f}x | {verdict} |")
PYEOF
  )
  ROWS+=("$row")
done
[ "$SELECTED" -gt 0 ] || die "no workload matches '$ONLY'"

TABLE="$TMP/table.md"
{
  echo "| workload | skein mean (s) | lua5.4 mean (s) | python3 mean (s) | skein/lua | skein/python | targets met (<= 1.0x lua, <= 0.5x python) |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
} >"$TABLE"
cat "$TABLE"
if [ -n "$OUTFILE" ]; then
  cp "$TABLE" "$OUTFILE"
  echo "# table written to $OUTFILE" >&2
fi
