#!/usr/bin/env bash
# The standard-library benchmarks (sort, io.lines, strings.split/join),
# Skein side by side with Lua 5.4 or CPython in one hyperfine invocation
# per workload.
#
# Usage: bench/stdlib.sh [-r RUNS] [ONLY_REGEX]
#   -r RUNS      hyperfine timed runs per program (default 5; warmup is 1)
#   ONLY_REGEX   run only the workloads whose name matches (grep -E)
#
# Environment: SKEIN (default $CARGO_TARGET_DIR/release/skein, else
# target/release/skein), LUA (default lua5.4), PYTHON (default
# /usr/bin/python3 when present, else python3), DATA (where the input files
# are written, default /tmp/skein-bench-data; they are made once and kept).
#
# Workloads and targets (Skein's mean time over the peer's):
#   sort        sort() of 1,000,000 numbers vs table.sort      <= 1.0x lua
#   sort_less   sort() with a less function vs table.sort(t, f) <= 1.0x lua
#   lines       io.lines over a 104 MB file vs for line in open  <= 1.5x python
#   split_join  strings.split/join over 10 MB vs str.split/join  <= 1.0x python
#
# Each pair first runs once and must print the same `checksum ...` line
# (the script stops otherwise); then hyperfine times Skein with the default
# number of processors (the CPU count), Skein with --procs 1, and the peer,
# in one invocation (-N, --warmup 1), and a markdown row gives the means,
# the ratios and the verdict (on the default run). The table goes to
# stdout, hyperfine's detail to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUNS=5
while getopts "r:" opt; do
  case $opt in
    r) RUNS=$OPTARG ;;
    *) exit 64 ;;
  esac
done
shift $((OPTIND - 1))
ONLY=${1:-.}

SKEIN=${SKEIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/skein}
LUA=${LUA:-lua5.4}
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
DATA=${DATA:-/tmp/skein-bench-data}
PEERS=$HERE/peers_local
die() { echo "stdlib.sh: $*" >&2; exit 1; }
[ -x "$SKEIN" ] || die "no Skein binary at $SKEIN (build with cargo build --release)"

# The input files: deterministic text, written once.
mkdir -p "$DATA"
LINES_FILE=$DATA/lines.txt
TEXT_FILE=$DATA/text.txt
if [ ! -s "$LINES_FILE" ] || [ ! -s "$TEXT_FILE" ]; then
  echo "# writing the input files under $DATA" >&2
  "$PYTHON" - "$LINES_FILE" "$TEXT_FILE" <<'PYEOF'
import sys

lines_path, text_path = sys.argv[1:3]
# 2,150,000 lines of 8 to 87 bytes (with the newline): about 104 MB.
filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
with open(lines_path, "w") as f:
    for i in range(2_150_000):
        f.write(f"{i:07d} {filler[: i % 80]}\n")
# 10 MB of words from a small vocabulary (MINSTD choices), ten per line.
vocab = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
         "skein", "goroutine", "channel", "select", "heap", "mark", "sweep", "sort"]
x = 42
out = []
size = 0
while size < 10_000_000:
    words = []
    for _ in range(10):
        x = x * 48271 % 2147483647
        words.append(vocab[x % len(vocab)])
    line = " ".join(words)
    out.append(line)
    size += len(line) + 1
with open(text_path, "w") as f:
    f.write("\n".join(out) + "\n")
PYEOF
fi

# name | skein program | peer command | target ratio
WORKLOADS=(
  "sort|$HERE/sort.sk|$LUA $PEERS/sort/main.lua|1.0|lua"
  "sort_less|$HERE/sort_less.sk|$LUA $PEERS/sort_less/main.lua|1.0|lua"
  "lines|$HERE/lines.sk $LINES_FILE|$PYTHON $PEERS/lines/main.py $LINES_FILE|1.5|python"
  "split_join|$HERE/split_join.sk $TEXT_FILE|$PYTHON $PEERS/split_join/main.py $TEXT_FILE|1.0|python"
)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
{
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "# versions: $("$LUA" -v 2>&1 | cut -d' ' -f1-2); $("$PYTHON" --version) ($PYTHON); $(hyperfine --version); skein $SKEIN"
} >&2

ROWS=()
for spec in "${WORKLOADS[@]}"; do
  IFS='|' read -r name sk peer target peername <<<"$spec"
  echo "$name" | grep -Eq "$ONLY" || continue
  # Word splitting of the commands is intended: paths have no spaces.
  # shellcheck disable=SC2086
  c_sk=$("$SKEIN" $sk | grep '^checksum' || true)
  # shellcheck disable=SC2086
  c_peer=$($peer | grep '^checksum' || true)
  [ -n "$c_sk" ] && [ "$c_sk" = "$c_peer" ] ||
    die "$name: checksums differ: skein '$c_sk', $peername '$c_peer'"
  echo "# $name: $c_sk" >&2
  hyperfine -N --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$TMP/$name.json" \
    --command-name skein "$SKEIN $sk" \
    --command-name skein-p1 "$SKEIN --procs 1 $sk" \
    --command-name "$peername" "$peer" >&2
  ROWS+=("$("$PYTHON" - "$TMP/$name.json" "$name" "$peername" "$target" <<'PYEOF'
import json
import sys

path, name, peer, target = sys.argv[1:5]
means = {r["command"]: r["mean"] for r in json.load(open(path))["results"]}
sk, p1, other = means["skein"], means["skein-p1"], means[peer]
verdict = "yes" if sk / other <= float(target) else "**no**"
print(f"| {name} | {sk:.3f} | {p1:.3f} | {peer} {other:.3f} | {sk / other:.2f}x | {p1 / other:.2f}x | <= {target}x: {verdict} |")
PYEOF
)")
done
echo "| workload | skein mean (s) | skein --procs 1 mean (s) | peer mean (s) | skein/peer | skein --procs 1/peer | target (default procs) |"
echo "|---|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
