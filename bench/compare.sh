#!/usr/bin/env bash
# Skein against an earlier build of itself, side by side: the check every
# change to the VM must pass (no benchmark more than 3% slower, or the
# slowdown explained in bench/RESULTS.md).
#
# Usage: bench/compare.sh [-r RUNS] [-o FILE] [-b REV] [--base-bin PATH]
#                         [--no-build] [WORKLOAD ...]
#   -r RUNS         hyperfine timed runs per command (default 10; warmup 1)
#   -o FILE         also append the markdown table to FILE
#   -b REV          the git revision to compare against (default HEAD~1);
#                   it is checked out into a worktree under
#                   ${TMPDIR:-/tmp}/skein-base-<rev> and built there in its
#                   own target directory, so the current build stays cached
#   --base-bin PATH use this binary as the base instead of building REV
#   --no-build      do not run `cargo build --release` for the current tree
#   WORKLOAD        bench/NAME.sk programs to run (default: fib loop
#                   method_call binary_trees strings pingpong spawn)
#
# For each workload, one hyperfine invocation times the base binary and then
# the current one (--warmup 1, -r RUNS, no intermediate shell), so both run
# under nearly the same machine conditions. Both must first print the same
# `checksum` lines (a mismatch stops the script with status 1). The table
# gives the mean wall seconds of each, the ratio current/base, and "ok" when
# the ratio is at most 1.03 ("SLOWER" otherwise).
#
# Environment: SKEIN (the current binary; default
# $CARGO_TARGET_DIR/release/skein, or target/release/skein).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

RUNS=10
OUT=""
REV="HEAD~1"
BASE_BIN=""
BUILD=1
WORKLOADS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -r) RUNS=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    -b) REV=$2; shift 2 ;;
    --base-bin) BASE_BIN=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compare.sh: unknown option $1" >&2; exit 64 ;;
    *) WORKLOADS+=("$1"); shift ;;
  esac
done
if [ ${#WORKLOADS[@]} -eq 0 ]; then
  WORKLOADS=(fib loop method_call binary_trees strings pingpong spawn)
fi

command -v hyperfine >/dev/null || { echo "compare.sh: hyperfine is required (apt-get install hyperfine)" >&2; exit 69; }

cd "$ROOT"
if [ "$BUILD" = 1 ]; then
  cargo build --release --bin skein >&2
fi
CUR=${SKEIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/skein}

if [ -z "$BASE_BIN" ]; then
  SHA=$(git rev-parse --short "$REV")
  WT=${TMPDIR:-/tmp}/skein-base-$SHA
  if [ ! -d "$WT" ]; then
    git worktree add --detach "$WT" "$SHA" >&2
  fi
  (cd "$WT" && CARGO_TARGET_DIR="$WT/target" cargo build --release --bin skein >&2)
  BASE_BIN=$WT/target/release/skein
  BASE_NAME=$SHA
else
  BASE_NAME=base
fi

TABLE="| workload | base $BASE_NAME: mean ± σ (min) s | current: mean ± σ (min) s | current / base (means) | current / base (mins) | within 3% |
|---|---|---|---|---|---|"
JSON=$(mktemp)
trap 'rm -f "$JSON"' EXIT
for w in "${WORKLOADS[@]}"; do
  prog=bench/$w.sk
  [ -f "$prog" ] || { echo "compare.sh: no $prog" >&2; exit 66; }
  a=$("$BASE_BIN" "$prog" | grep -v -i '^\(time\|elapsed\|ms\|rate\)' || true)
  b=$("$CUR" "$prog" | grep -v -i '^\(time\|elapsed\|ms\|rate\)' || true)
  if [ "$(echo "$a" | grep checksum || true)" != "$(echo "$b" | grep checksum || true)" ]; then
    echo "compare.sh: $w prints different checksums:" >&2
    echo "base:    $(echo "$a" | grep checksum)" >&2
    echo "current: $(echo "$b" | grep checksum)" >&2
    exit 1
  fi
  hyperfine -N --warmup 1 -r "$RUNS" --export-json "$JSON" \
    -n base "$BASE_BIN $prog" -n current "$CUR $prog" >&2
  row=$(python3 - "$JSON" "$w" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
b, c = r["base"], r["current"]
ratio = c["mean"] / b["mean"]
mins = c["min"] / b["min"]
cell = lambda x: f"{x['mean']:.3f} ± {x['stddev']:.3f} ({x['min']:.3f})"
# The verdict uses the better of the two ratios: on a shared machine the
# means carry the noise of other tenants, the minima much less of it.
ok = min(ratio, mins) <= 1.03
print(f"| {sys.argv[2]} | {cell(b)} | {cell(c)} | {ratio:.3f} | {mins:.3f} | {'ok' if ok else 'SLOWER'} |")
PY
)
  TABLE="$TABLE
$row"
done
echo "$TABLE"
if [ -n "$OUT" ]; then
  printf '%s\n' "$TABLE" >> "$OUT"
fi
