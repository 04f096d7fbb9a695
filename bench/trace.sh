#!/usr/bin/env bash
# What tracing costs: time, peak memory and bytes per event of a traced run
# against the same run untraced, side by side.
#
# Usage: bench/trace.sh [-r RUNS] [-d DIR] [WORKLOAD ...]
#   -r RUNS   hyperfine timed runs per command (default 10; warmup 1)
#   -d DIR    where the traces are written (default /dev/shm when it
#             exists, so that the figure is the tracer's CPU cost and not
#             the disk's; give a disk directory to see that too)
#   WORKLOAD  bench/NAME.sk programs (default: pingpong binary_trees)
#
# For each workload:
# 1. One hyperfine invocation times the untraced run, the run traced into a
#    .sktrace file (the binary form, written as the run goes), and the run
#    traced into a text file (spooled, converted when the program ends).
# 2. /usr/bin/time reports each one's peak RSS (the largest of 3 runs).
# 3. The binary trace's size over its event count (from
#    `skein trace summary`) gives the bytes per event.
#
# Environment: SKEIN (default target/release/skein).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10
dir=/tmp
[ -d /dev/shm ] && dir=/dev/shm
while getopts "r:d:" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    d) dir=$OPTARG ;;
    *) exit 64 ;;
  esac
done
shift $((OPTIND - 1))
workloads=("$@")
[ ${#workloads[@]} -eq 0 ] && workloads=(pingpong binary_trees)
skein=${SKEIN:-target/release/skein}

peak_kb() {
  local best=0 out kb
  out=$(mktemp)
  for _ in 1 2 3; do
    /usr/bin/time -f "%M" -o "$out" "$@" >/dev/null 2>&1 || true
    kb=$(tail -1 "$out")
    [ "$kb" -gt "$best" ] && best=$kb
  done
  rm -f "$out"
  echo "$best"
}

echo "| workload | untraced s | .sktrace s (ratio) | text s (ratio) | untraced peak RSS | .sktrace peak RSS | text peak RSS | events | bytes/event |"
echo "|---|---|---|---|---|---|---|---|---|"
for w in "${workloads[@]}"; do
  prog=bench/$w.sk
  bin=$dir/skein-trace-$w.sktrace
  txt=$dir/skein-trace-$w.txt
  json=$(mktemp)
  hyperfine -N -w 1 -r "$runs" --export-json "$json" \
    "$skein $prog" "$skein --trace $bin $prog" "$skein --trace $txt $prog" >/dev/null
  read -r t0 t1 t2 < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(*[x['mean'] for x in r])" "$json")
  rm -f "$json"
  r0=$(peak_kb "$skein" "$prog")
  r1=$(peak_kb "$skein" --trace "$bin" "$prog")
  r2=$(peak_kb "$skein" --trace "$txt" "$prog")
  events=$("$skein" trace summary "$bin" | sed -n 's/.*events: \([0-9]*\).*/\1/p')
  size=$(stat -c %s "$bin")
  python3 - "$w" "$t0" "$t1" "$t2" "$r0" "$r1" "$r2" "$events" "$size" <<'EOF'
import sys
w, t0, t1, t2, r0, r1, r2, ev, size = sys.argv[1:]
t0, t1, t2 = float(t0), float(t1), float(t2)
mb = lambda kb: f"{int(kb) / 1024:.1f} MB"
print(f"| {w} | {t0:.3f} | {t1:.3f} ({t1 / t0:.2f}×) | {t2:.3f} ({t2 / t0:.2f}×) | {mb(r0)} | {mb(r1)} | {mb(r2)} | {int(ev):,} | {int(size) / max(int(ev), 1):.2f} |")
EOF
  rm -f "$bin" "$txt"
done
