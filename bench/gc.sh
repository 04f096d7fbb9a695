#!/usr/bin/env bash
# The concurrent garbage collector's benchmarks: pause latency against Go,
# the cost of concurrency against a stop-the-world collector, and the peak
# heap against the pacer's goal, side by side in one invocation.
#
# Usage: bench/gc.sh [-r RUNS] [-p PROCS] [-s SECONDS] [-l LIVE] [--no-build]
#                    [ONLY]
#   -r RUNS      runs of gc_latency per program and processor count, and
#                hyperfine's timed runs of binary_trees (default 3)
#   -p PROCS     comma-separated processor counts for gc_latency: Skein gets
#                --procs P, Go GOMAXPROCS=P (default 2)
#   -s SECONDS   gc_latency's churn time per run (default 5)
#   -l LIVE      gc_latency's live heap in nodes (default 1000000, the Go
#                peer's; smaller values are for trying the script out)
#   --no-build   do not run `cargo build --release` first
#   ONLY         run only the sections whose name matches (grep -E):
#                latency, trees, heap; e.g. 'latency|heap'
#
# Environment: SKEIN (the binary; default $CARGO_TARGET_DIR/release/skein,
# or target/release/skein), PEERS (the peer programs, which are not
# part of this repository; default, when it exists, ../shared/bench/peers
# beside the repository root), GO (default go on
# PATH, else /usr/lib/go-1.19/bin/go), PYTHON (default python3),
# HEAP_MIN_GOAL_MB (default 4; see "heap").
#
# latency: bench/gc_latency.sk and the Go peer gc_latency (built into a
#   temporary directory) in `full` mode, RUNS times each at every P, Go and
#   Skein alternating, both with gctrace on (GODEBUG=gctrace=1 /
#   SKEINDEBUG=gctrace=1). Per program and P: whether every run printed the
#   checksum LIVE*(LIVE-1)/2, the median of the runs' probe-lateness p50 and
#   p99, the largest lateness, the largest `memstats_max_pause_us` the program
#   printed, the longest stop-the-world pause in the gctrace lines (in
#   `gc N @Ts P%: a+b+c ms clock` the pauses are a, sweep termination, and c,
#   mark termination; the maximum of both over every line of every run), the
#   median GC count and allocation rate, and Skein's p99 / Go's p99.
# trees: bench/binary_trees.sk timed by one hyperfine invocation
#   (-N --warmup 1 -r RUNS) under the default settings and under
#   SKEINDEBUG=gcstoptheworld=1, with the Go peer under the default settings
#   and GODEBUG=gcstoptheworld=1 beside it for reference; the ratio
#   concurrent / stop-the-world (target <= 1.2). Default processor counts.
# heap: per cycle, Y / G from the gctrace fields `X->Y->Z MB` (Y: the heap
#   when marking ended) and `G MB goal`, over one binary_trees run and the
#   Skein gc_latency runs of the latency section (one run at the first P
#   when that section is skipped); the largest Y / G (target <= 1.1). Go's
#   runs are shown for reference. Forced cycles (runtime.gc()) are not paced
#   and are skipped, and so are cycles whose goal is below HEAP_MIN_GOAL_MB:
#   gctrace rounds to whole MB, so a small goal's ratio is mostly rounding.
#
# A program that fails (or runs past its time limit) stops the script with
# exit status 1; a wrong checksum is reported in the table and makes the
# exit status 1 after the tables are printed; a missed target is only
# reported. Without Go, the Go columns show "-" and the Skein rows still
# run. The markdown tables (with the command line) go to stdout; progress
# and hyperfine's detail go to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# The command line as given, for the table: plain words as they are (so a
# list reads `-p 1,2`, not printf's `1\,2`), anything else shell-quoted.
CMDLINE="bench/gc.sh"
for arg in "$@"; do
  if [[ $arg =~ ^[A-Za-z0-9_./,:=@%+-]+$ ]]; then
    CMDLINE+=" $arg"
  else
    CMDLINE+=" $(printf '%q' "$arg")"
  fi
done

usage() {
  # The comment block at the top of this file, up to the first code line.
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

die() {
  echo "bench/gc.sh: $*" >&2
  exit 1
}

RUNS=3
PROCS_ARG=2
SECS=5
LIVE=1000000
BUILD=1
ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    -r) [ $# -ge 2 ] || die "-r needs a number"; RUNS=$2; shift 2 ;;
    -r*) RUNS=${1#-r}; shift ;;
    -p) [ $# -ge 2 ] || die "-p needs a list of processor counts"; PROCS_ARG=$2; shift 2 ;;
    -p*) PROCS_ARG=${1#-p}; shift ;;
    -s) [ $# -ge 2 ] || die "-s needs a number of seconds"; SECS=$2; shift 2 ;;
    -s*) SECS=${1#-s}; shift ;;
    -l) [ $# -ge 2 ] || die "-l needs a number of nodes"; LIVE=$2; shift 2 ;;
    -l*) LIVE=${1#-l}; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$ONLY" ] || die "only one section regex may be given"; ONLY=$1; shift ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-r wants a positive integer, got '$RUNS'"
# The value is pasted into the Skein program as a number literal, which Lox
# writes with digits on both sides of any point.
if ! [[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ && $SECS =~ [1-9] ]]; then
  die "-s wants a positive number of seconds, got '$SECS'"
fi
[[ $LIVE =~ ^[1-9][0-9]*$ ]] || die "-l wants a positive integer, got '$LIVE'"
IFS=', ' read -r -a PROCS <<<"$PROCS_ARG"
[ ${#PROCS[@]} -gt 0 ] || die "-p wants at least one processor count"
for p in "${PROCS[@]}"; do
  [[ $p =~ ^[1-9][0-9]*$ ]] || die "-p wants positive integers, got '$p'"
done
HEAP_MIN_GOAL_MB=${HEAP_MIN_GOAL_MB:-4}
[[ $HEAP_MIN_GOAL_MB =~ ^[0-9]+$ ]] || die "HEAP_MIN_GOAL_MB wants an integer"

# selected NAME: whether the section NAME is to run.
selected() {
  [ -z "$ONLY" ] || grep -Eq -- "$ONLY" <<<"$1"
}
WANT_LAT=0
WANT_TREES=0
WANT_HEAP=0
if selected latency; then WANT_LAT=1; fi
if selected trees; then WANT_TREES=1; fi
if selected heap; then WANT_HEAP=1; fi
[ $((WANT_LAT + WANT_TREES + WANT_HEAP)) -gt 0 ] ||
  die "no section matches '$ONLY' (sections: latency, trees, heap)"

# The binary_trees checksum (bench/README.md), the same from every program.
TREES_CHECKSUM="checksum 14985902"
# gc_latency's checksum is the sum of 0 .. LIVE-1; bash arithmetic is 64-bit,
# far beyond a million nodes' 5e11.
LAT_CHECKSUM="checksum $((LIVE * (LIVE - 1) / 2))"
# A run's wall-clock limit in seconds: the churn, plus room for building the
# live heap, sorting and a slow machine (a million nodes take well under a
# second to build; 120 s is a hang, not a slow run).
LAT_LIMIT=$(awk -v s="$SECS" 'BEGIN { printf "%d", s * 2 + 120 }')
# binary_trees takes about a second; 300 s is a hang.
TREES_LIMIT=300

if [ -n "${PEERS:-}" ]; then
  [ -d "$PEERS" ] || die "PEERS=$PEERS is not a directory"
  PEERS=$(cd "$PEERS" && pwd)
elif [ -d "$ROOT/../shared/bench/peers" ]; then
  PEERS=$(cd "$ROOT/../shared/bench/peers" && pwd)
else
  die "peer programs not found at $ROOT/../shared/bench/peers; set PEERS=DIR"
fi

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON=PATH)"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"
if [ "$WANT_TREES" = 1 ]; then
  command -v hyperfine >/dev/null 2>&1 || die "hyperfine not found (apt-get install hyperfine)"
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
for f in "$HERE/gc_latency.sk" "$HERE/binary_trees.sk"; do
  [ -f "$f" ] || die "missing program $f"
done

TMP=$(mktemp -d -t skein-gcbench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Go: both peers are built into $TMP/go, never into the repository.
HAVE_GO=0
GOBIN=$TMP/go
if [ -z "${GO:-}" ]; then
  GO=$(command -v go || true)
  if [ -z "$GO" ] && [ -x /usr/lib/go-1.19/bin/go ]; then
    GO=/usr/lib/go-1.19/bin/go
  fi
fi
if [ -n "$GO" ] && [ -x "$GO" ]; then
  mkdir -p "$GOBIN"
  for peer in gc_latency binary_trees; do
    [ -f "$PEERS/$peer/main.go" ] || die "missing Go peer $PEERS/$peer/main.go"
    echo "# go build $peer" >&2
    # Single-file programs using only the standard library: no module.
    (cd "$PEERS/$peer" && GO111MODULE=off "$GO" build -o "$GOBIN/$peer" main.go) >&2 ||
      die "go build of $peer failed"
  done
  HAVE_GO=1
else
  echo "# Go not found (set GO=PATH or apt-get install golang-1.19-go): Go rows skipped" >&2
fi

# The gc_latency variant with this run's sizes: the three settings are
# globals on lines of a fixed shape at the top of the program (Skein scripts
# take no arguments). Each substitution must hit exactly one line.
LAT_SK=$TMP/gc_latency.sk
sed -e 's/^var MODE = .*;$/var MODE = "full";/' \
  -e "s/^var SECONDS = .*;\$/var SECONDS = $SECS;/" \
  -e "s/^var LIVE = .*;\$/var LIVE = $LIVE;/" \
  "$HERE/gc_latency.sk" >"$LAT_SK"
for line in 'var MODE = "full";' "var SECONDS = $SECS;" "var LIVE = $LIVE;"; do
  [ "$(grep -cxF -- "$line" "$LAT_SK")" = 1 ] ||
    die "bench/gc_latency.sk: could not set '$line' (the settings' lines changed shape)"
done

# run_to OUT ERR LIMIT CMD...: runs CMD with stdout to OUT and stderr to ERR
# under a LIMIT-second wall-clock limit; dies when it fails, showing the
# stderr tail without the gctrace lines.
run_to() {
  local out=$1 err=$2 limit=$3
  shift 3
  local rc=0
  timeout --kill-after=10 "$limit" "$@" >"$out" 2>"$err" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "---- exited with status $rc (124: past the ${limit}s limit); stderr tail:" >&2
    grep -v '^gc [0-9]' "$err" | tail -n 20 >&2 || true
    die "failed: $*"
  fi
}

# quote WORD...: the words as one line of shell input (for eval and for
# hyperfine -N, which splits a command like a shell would).
quote() {
  printf '%q ' "$@"
}

# checksum_in FILE: the last `checksum ...` line of FILE ("none" if absent).
checksum_in() {
  local line
  line=$(grep '^checksum ' "$1" | tail -n 1 || true)
  printf '%s\n' "${line:-none}"
}

# The statistics: one Python program with a subcommand per section.
STATS=$TMP/gcstats.py
cat >"$STATS" <<'PYEOF'
"""Aggregates bench/gc.sh's runs into markdown table rows.

latency DIR EXPECTED RUNS P...: DIR holds {skein,go}-p{P}-r{I}.{out,err};
  prints one row per program and P.
trees JSON HAVE_GO: hyperfine's JSON export; prints the rows.
heap MIN_GOAL LABEL FILE...: gctrace files; prints one row.
Rows for the table go to stdout; "FAIL" on a line of its own means a
checksum was wrong (a missed target is only reported).
"""
import json
import re
import statistics
import sys

# Go's gctrace layout (Skein prints the same): the clock phases and the
# heap sizes, in decimal MB or ms.
CLOCK = re.compile(r"^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock")
HEAP = re.compile(r" ([\d.]+)->([\d.]+)->([\d.]+) MB, ([\d.]+) MB goal")


def metrics(path):
    """The `metric NAME VALUE` lines of a program's stdout, as floats."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "metric":
                out[parts[1]] = float(parts[2])
    return out


def checksum(path):
    last = None
    with open(path) as f:
        for line in f:
            if line.startswith("checksum "):
                last = line.strip()
    return last


def gctrace_lines(path):
    with open(path) as f:
        return [line for line in f if line.startswith("gc ") and CLOCK.match(line)]


def max_stw_ms(paths):
    """The longest sweep- or mark-termination pause over all the lines."""
    best = None
    for path in paths:
        for line in gctrace_lines(path):
            a, _, c = (float(x) for x in CLOCK.match(line).groups())
            best = max(a, c) if best is None else max(best, a, c)
    return best


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def latency(argv):
    d, expected, runs, procs = argv[0], argv[1], int(argv[2]), argv[3:]
    ok = True
    for p in procs:
        p99 = {}
        rows = {}
        for impl in ("go", "skein"):
            outs = [f"{d}/{impl}-p{p}-r{i}.out" for i in range(1, runs + 1)]
            errs = [f"{d}/{impl}-p{p}-r{i}.err" for i in range(1, runs + 1)]
            try:
                ms = [metrics(o) for o in outs]
                sums = [checksum(o) for o in outs]
            except FileNotFoundError:
                continue
            good = all(s == expected for s in sums)
            ok = ok and good
            col = lambda k: [m[k] for m in ms if k in m]
            med = lambda k: statistics.median(col(k)) if col(k) else None
            top = lambda k: max(col(k)) if col(k) else None
            p99[impl] = med("late_p99_us")
            stw = max_stw_ms(errs)
            rows[impl] = [
                impl,
                p,
                "yes" if good else "**no** (" + ", ".join(sorted(set(map(str, sums)))) + ")",
                fmt(med("late_p50_us")),
                fmt(p99[impl]),
                fmt(top("late_max_us")),
                fmt(top("memstats_max_pause_us")),
                fmt(None if stw is None else stw * 1000),
                fmt(med("gcs_during_churn"), 0),
                fmt(med("allocs_per_s"), 0),
            ]
        for impl in ("go", "skein"):
            if impl not in rows:
                continue
            ratio = "-"
            if impl == "skein" and p99.get("go"):
                ratio = f"{p99['skein'] / p99['go']:.2f}x"
            print("| " + " | ".join(rows[impl] + [ratio]) + " |")
    if not ok:
        print("FAIL")


def trees(argv):
    path, have_go = argv[0], argv[1] == "1"
    means = {r["command"]: r for r in json.load(open(path))["results"]}
    pairs = [("skein", "skein", "skein-stw", True)]
    if have_go:
        pairs.append(("go (reference)", "go", "go-stw", False))
    for label, conc, stw, target in pairs:
        c, s = means[conc], means[stw]
        ratio = c["mean"] / s["mean"]
        verdict = "-"
        if target:
            verdict = "yes" if ratio <= 1.2 else "**no**"
        print(
            f"| {label} | {c['mean']:.3f} ± {c['stddev'] or 0:.3f} | "
            f"{s['mean']:.3f} ± {s['stddev'] or 0:.3f} | {ratio:.2f}x | {verdict} |"
        )


def heap(argv):
    min_goal, label, target, paths = float(argv[0]), argv[1], argv[2] == "1", argv[3:]
    cycles = 0
    worst = None
    for path in paths:
        for line in gctrace_lines(path):
            m = HEAP.search(line)
            if not m or "(forced)" in line:
                continue
            y, g = float(m.group(2)), float(m.group(4))
            if g <= 0 or g < min_goal:
                continue
            cycles += 1
            r = y / g
            if worst is None or r > worst[0]:
                worst = (r, m.group(1), m.group(2), m.group(3), m.group(4))
    if worst is None:
        print(f"| {label} | 0 | - | - | - |")
        return
    r, x, y, z, g = worst
    verdict = "-"
    if target:
        verdict = "yes" if r <= 1.1 else "**no**"
    print(f"| {label} | {cycles} | {r:.2f} | {x}->{y}->{z} MB, {g} MB goal | {verdict} |")


{"latency": latency, "trees": trees, "heap": heap}[sys.argv[1]](sys.argv[2:])
PYEOF

{
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
  versions="skein $SKEIN"
  if [ "$HAVE_GO" = 1 ]; then versions="$versions; $("$GO" version | cut -d' ' -f3)"; fi
  if [ "$WANT_TREES" = 1 ]; then versions="$versions; $(hyperfine --version)"; fi
  echo "# versions: $versions"
  echo "# peers: $PEERS"
} >&2

TABLE=$TMP/table.md
FAILED=0
{
  echo "Command: \`$CMDLINE\`"
  echo
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
} >"$TABLE"

# collect ROWS: appends the aggregator's rows to the table body in $TMP/rows
# and notes a failed check.
collect() {
  local out=$1
  if grep -qx FAIL <<<"$out"; then FAILED=1; fi
  grep -vx FAIL <<<"$out" >>"$TMP/rows" || true
}

# ---- latency: gc_latency, Skein against Go at every P. ----
LAT=$TMP/lat
mkdir -p "$LAT"
if [ "$WANT_LAT" = 1 ]; then
  for p in "${PROCS[@]}"; do
    for i in $(seq "$RUNS"); do
      if [ "$HAVE_GO" = 1 ]; then
        echo "# latency: go gc_latency, GOMAXPROCS=$p, run $i of $RUNS" >&2
        run_to "$LAT/go-p$p-r$i.out" "$LAT/go-p$p-r$i.err" "$LAT_LIMIT" \
          env "GOMAXPROCS=$p" GODEBUG=gctrace=1 "$GOBIN/gc_latency" full "$SECS" "$LIVE"
        echo "#   $(checksum_in "$LAT/go-p$p-r$i.out")" >&2
      fi
      echo "# latency: skein gc_latency.sk, --procs $p, run $i of $RUNS" >&2
      run_to "$LAT/skein-p$p-r$i.out" "$LAT/skein-p$p-r$i.err" "$LAT_LIMIT" \
        env SKEINDEBUG=gctrace=1 "$SKEIN" run --procs "$p" "$LAT_SK"
      echo "#   $(checksum_in "$LAT/skein-p$p-r$i.out")" >&2
    done
  done
  : >"$TMP/rows"
  collect "$("$PYTHON" "$STATS" latency "$LAT" "$LAT_CHECKSUM" "$RUNS" "${PROCS[@]}")"
  {
    echo
    echo "### GC latency (\`gc_latency\`, $LIVE live nodes, ${SECS} s churn, $RUNS runs each)"
    echo
    echo "Probe lateness: how late a 1 ms sleep wakes (p50 and p99: median over"
    echo "the runs; max: over all runs). memstats pause: the largest"
    echo "\`memstats_max_pause_us\` printed. gctrace STW: the longest sweep- or"
    echo "mark-termination pause (\`a\`, \`c\` of \`a+b+c ms clock\`) in any cycle."
    echo
    echo "| program | procs | checksum ok | late p50 (µs) | late p99 (µs) | late max (µs) | memstats max pause (µs) | gctrace max STW (µs) | GCs during churn | allocs/s | skein p99 / go p99 |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    cat "$TMP/rows"
  } >>"$TABLE"
fi

# ---- trees: binary_trees, concurrent against stop-the-world. ----
if [ "$WANT_TREES" = 1 ]; then
  SK_CONC=(env -u SKEINDEBUG "$SKEIN" run "$HERE/binary_trees.sk")
  SK_STW=(env SKEINDEBUG=gcstoptheworld=1 "$SKEIN" run "$HERE/binary_trees.sk")
  GO_CONC=(env -u GODEBUG "$GOBIN/binary_trees")
  GO_STW=(env GODEBUG=gcstoptheworld=1 "$GOBIN/binary_trees")
  names=(skein skein-stw)
  cmds=("$(quote "${SK_CONC[@]}")" "$(quote "${SK_STW[@]}")")
  if [ "$HAVE_GO" = 1 ]; then
    names+=(go go-stw)
    cmds+=("$(quote "${GO_CONC[@]}")" "$(quote "${GO_STW[@]}")")
  fi
  # Every command must print the checksum before it is timed.
  for k in "${!names[@]}"; do
    echo "# trees: checking ${names[$k]}" >&2
    eval "run_to \"\$TMP/trees.out\" \"\$TMP/trees.err\" $TREES_LIMIT ${cmds[$k]}"
    c=$(checksum_in "$TMP/trees.out")
    [ "$c" = "$TREES_CHECKSUM" ] ||
      die "trees: ${names[$k]} printed '$c', expected '$TREES_CHECKSUM'"
  done
  # One hyperfine invocation, so every variant runs under the same load.
  # hyperfine -N splits each command like a shell would: `quote` made each
  # command a line of shell-quoted words.
  HF=(hyperfine -N --warmup 1 -r "$RUNS" --style basic --export-json "$TMP/trees.json")
  for k in "${!names[@]}"; do
    HF+=(--command-name "${names[$k]}" "${cmds[$k]}")
  done
  "${HF[@]}" >&2
  : >"$TMP/rows"
  collect "$("$PYTHON" "$STATS" trees "$TMP/trees.json" "$HAVE_GO")"
  {
    echo
    echo "### Concurrent against stop-the-world (\`binary_trees\`, $RUNS runs, hyperfine)"
    echo
    echo "Mean wall seconds ± standard deviation, default processor count ($(nproc))."
    echo
    echo "| program | default GC (s) | gcstoptheworld=1 (s) | concurrent / STW | target <= 1.2x |"
    echo "|---|---:|---:|---:|---|"
    cat "$TMP/rows"
  } >>"$TABLE"
fi

# ---- heap: the heap when marking ended against the pacer's goal. ----
if [ "$WANT_HEAP" = 1 ]; then
  HEAPDIR=$TMP/heap
  mkdir -p "$HEAPDIR"
  echo "# heap: binary_trees with gctrace" >&2
  run_to "$HEAPDIR/skein-trees.out" "$HEAPDIR/skein-trees.err" "$TREES_LIMIT" \
    env SKEINDEBUG=gctrace=1 "$SKEIN" run "$HERE/binary_trees.sk"
  if [ "$HAVE_GO" = 1 ]; then
    run_to "$HEAPDIR/go-trees.out" "$HEAPDIR/go-trees.err" "$TREES_LIMIT" \
      env GODEBUG=gctrace=1 "$GOBIN/binary_trees"
  fi
  # The latency section's traces when it ran, else one run at the first P.
  if [ "$WANT_LAT" = 1 ]; then
    SK_LAT_ERRS=("$LAT"/skein-*.err)
    GO_LAT_ERRS=()
    if [ "$HAVE_GO" = 1 ]; then GO_LAT_ERRS=("$LAT"/go-*.err); fi
    lat_note="the latency section's runs"
  else
    p=${PROCS[0]}
    echo "# heap: gc_latency with gctrace, --procs $p" >&2
    run_to "$HEAPDIR/skein-lat.out" "$HEAPDIR/skein-lat.err" "$LAT_LIMIT" \
      env SKEINDEBUG=gctrace=1 "$SKEIN" run --procs "$p" "$LAT_SK"
    SK_LAT_ERRS=("$HEAPDIR/skein-lat.err")
    GO_LAT_ERRS=()
    if [ "$HAVE_GO" = 1 ]; then
      run_to "$HEAPDIR/go-lat.out" "$HEAPDIR/go-lat.err" "$LAT_LIMIT" \
        env "GOMAXPROCS=$p" GODEBUG=gctrace=1 "$GOBIN/gc_latency" full "$SECS" "$LIVE"
      GO_LAT_ERRS=("$HEAPDIR/go-lat.err")
    fi
    lat_note="one run at $p procs"
  fi
  : >"$TMP/rows"
  collect "$("$PYTHON" "$STATS" heap "$HEAP_MIN_GOAL_MB" "skein binary_trees" 1 "$HEAPDIR/skein-trees.err")"
  collect "$("$PYTHON" "$STATS" heap "$HEAP_MIN_GOAL_MB" "skein gc_latency ($lat_note)" 1 "${SK_LAT_ERRS[@]}")"
  if [ "$HAVE_GO" = 1 ]; then
    collect "$("$PYTHON" "$STATS" heap "$HEAP_MIN_GOAL_MB" "go binary_trees (reference)" 0 "$HEAPDIR/go-trees.err")"
    collect "$("$PYTHON" "$STATS" heap "$HEAP_MIN_GOAL_MB" "go gc_latency (reference)" 0 "${GO_LAT_ERRS[@]}")"
  fi
  {
    echo
    echo "### Peak heap against the pacer's goal (gctrace)"
    echo
    echo "Per cycle Y / G, from \`X->Y->Z MB\` (Y: the heap when marking ended)"
    echo "and \`G MB goal\`; not forced cycles with a goal of at least"
    echo "$HEAP_MIN_GOAL_MB MB (gctrace rounds to whole MB)."
    echo
    echo "| run | cycles | max Y / G | worst cycle | target <= 1.1 |"
    echo "|---|---:|---:|---|---|"
    cat "$TMP/rows"
  } >>"$TABLE"
fi

cat "$TABLE"
if [ "$FAILED" = 1 ]; then
  echo "bench/gc.sh: a check failed (see the table)" >&2
  exit 1
fi
