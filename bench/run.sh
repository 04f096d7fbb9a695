#!/usr/bin/env bash
# Skein vs Lua 5.4 vs CPython 3, and Skein vs Go on the concurrency workloads,
# side by side, on the peers' benchmark programs.
#
# Usage: bench/run.sh [-r RUNS] [-o FILE] [-p PROCS] [--no-build]
#                     [--speedup | --parked] [ONLY_REGEX]
#   -r RUNS      hyperfine timed runs per program (default 5; warmup is 1);
#                also the number of max-RSS samples of the parked measurement
#   -o FILE      also write the markdown tables to FILE
#   -p PROCS     comma-separated processor counts for the concurrency rows:
#                Skein gets --procs P, Go GOMAXPROCS=P (default 1,2)
#   --no-build   do not run `cargo build --release` first
#   --speedup    only parallel.sk at --procs 1 and 2 (and Go's parallel at
#                GOMAXPROCS=1 and 2): wall times and the speed-up
#   --parked     only the memory per parked goroutine (parked.sk)
#   ONLY_REGEX   run only the workloads whose name matches (grep -E), e.g.
#                'fib|loop'; the parked measurement's name is "parked"
#
# Environment:
#   PEERS   directory of the peer programs, which are not part of this
#           repository (default, when it exists: ../shared/bench/peers
#           relative to the repository root)
#   SKEIN   the Skein binary (default: $CARGO_TARGET_DIR/release/skein, or
#           target/release/skein at the repository root)
#   PYTHON  the CPython binary (default: /usr/bin/python3, the distro's PGO/LTO
#           build, when present, else python3 on PATH resolved past pyenv shims)
#   LUA     the Lua binary (default: lua5.4)
#   GO      the Go toolchain (default: go on PATH, else /usr/lib/go-1.19/bin/go)
#
# Core workloads (fib ... nbody): the three programs first run once each and
# must print the same `checksum ...` line (a mismatch, a crash or a missing
# line stops the script with exit status 1). Then one hyperfine invocation
# times all three (--warmup 1, -r RUNS, no intermediate shell), so they share
# the machine's conditions. The table gives mean wall seconds (process
# start-up included), the ratios, and whether the performance targets hold:
# fib, loop, method_call and binary_trees must run in at most 1.0x Lua's time
# and at most 0.5x CPython's; strings and nbody are reported only.
#
# Concurrency workloads (pingpong, spawn, sieve, parallel): Skein against the
# Go peers, built into a temporary directory (never into the repository);
# without Go the Skein rows still run and the Go columns show "-". Each
# program must print the expected checksum at every processor count; one
# hyperfine invocation per workload times Skein and Go at every count in
# PROCS. When PROCS holds 1 and 2, a speed-up table follows (time at 1 /
# time at 2). The parked measurement runs parked.sk (100,000 goroutines
# blocked on one channel) and a trivial script under `/usr/bin/time -f %M`,
# RUNS times each, and reports (median max RSS - median trivial max RSS) /
# 100,000 as bytes per parked goroutine; Go's `spawn park` is measured the
# same way against `spawn park 1`.
#
# The machine may be shared: hyperfine's progress and standard deviations go
# to stderr. Missing lua5.4 / hyperfine / GNU time are installed with apt-get
# (one `apt-get update`); Go is never installed by this script.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

usage() {
  sed -n '2,52p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  echo "bench/run.sh: $*" >&2
  exit 1
}

RUNS=5
OUTFILE=""
BUILD=1
ONLY=""
PROCS_ARG="1,2"
MODE=""
while [ $# -gt 0 ]; do
  case $1 in
    -r) [ $# -ge 2 ] || die "-r needs a number"; RUNS=$2; shift 2 ;;
    -r*) RUNS=${1#-r}; shift ;;
    -o) [ $# -ge 2 ] || die "-o needs a file"; OUTFILE=$2; shift 2 ;;
    -o*) OUTFILE=${1#-o}; shift ;;
    -p) [ $# -ge 2 ] || die "-p needs a list of processor counts"; PROCS_ARG=$2; shift 2 ;;
    -p*) PROCS_ARG=${1#-p}; shift ;;
    --no-build) BUILD=0; shift ;;
    --speedup | --parked)
      [ -z "$MODE" ] || die "--speedup and --parked exclude each other"
      MODE=${1#--}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; exit 2 ;;
    *) [ -z "$ONLY" ] || die "only one workload regex may be given"; ONLY=$1; shift ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "-r wants a positive integer, got '$RUNS'"
IFS=', ' read -r -a PROCS <<<"$PROCS_ARG"
[ ${#PROCS[@]} -gt 0 ] || die "-p wants at least one processor count"
for p in "${PROCS[@]}"; do
  [[ $p =~ ^[1-9][0-9]*$ ]] || die "-p wants positive integers, got '$p'"
done
case $MODE in
  speedup)
    [ -z "$ONLY" ] || die "--speedup takes no workload regex"
    ONLY='^parallel$'
    PROCS=(1 2) ;;
  parked)
    [ -z "$ONLY" ] || die "--parked takes no workload regex"
    ONLY='^parked$' ;;
esac

# The core workloads: name, Skein program (in bench/), peer directory, peer
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

# The concurrency workloads, run against the Go peers: name, Skein program,
# peer directory (a Go program, main.go), the Go binary's arguments ("-" for
# none), and the expected checksum (the rest of the line). The Go programs'
# default sizes are the ones the Skein programs fix in their source.
CONC_WORKLOADS=(
  "pingpong    pingpong.sk     pingpong     -      500000500000"
  "spawn       spawn.sk        spawn        spawn  499999500000"
  "sieve       sieve.sk        sieve        -      27449 38645211"
  "parallel    parallel.sk     parallel     -      2399999999"
)

# The parked-goroutine measurement: how many goroutines parked.sk parks (as
# Go's `spawn park` does by default), and the processor count both run at
# (the peers' harness measures Go's park at GOMAXPROCS=2).
PARKED_N=100000
PARKED_PROCS=2

# selected NAME: whether the workload NAME is to run.
selected() {
  [ -z "$ONLY" ] || grep -Eq -- "$ONLY" <<<"$1"
}

WANT_CORE=0
WANT_CONC=0
WANT_PARKED=0
for spec in "${WORKLOADS[@]}"; do
  read -r name _ <<<"$spec"
  if selected "$name"; then WANT_CORE=1; fi
done
for spec in "${CONC_WORKLOADS[@]}"; do
  read -r name _ <<<"$spec"
  if selected "$name"; then WANT_CONC=1; fi
done
if selected parked; then WANT_PARKED=1; fi
[ $((WANT_CORE + WANT_CONC + WANT_PARKED)) -gt 0 ] || die "no workload matches '$ONLY'"

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

# Tools: install what is missing, with a single apt-get update. Lua is only
# needed for the core rows, hyperfine for every timed row, GNU time for the
# parked measurement.
LUA=${LUA:-lua5.4}
MISSING=()
if [ "$WANT_CORE" = 1 ]; then
  command -v "$LUA" >/dev/null 2>&1 || MISSING+=(lua5.4)
fi
if [ $((WANT_CORE + WANT_CONC)) -gt 0 ]; then
  command -v hyperfine >/dev/null 2>&1 || MISSING+=(hyperfine)
fi
if [ "$WANT_PARKED" = 1 ]; then
  [ -x /usr/bin/time ] || MISSING+=(time)
fi
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
if [ "$WANT_CORE" = 1 ]; then
  command -v "$LUA" >/dev/null 2>&1 || die "$LUA not found"
fi
if [ $((WANT_CORE + WANT_CONC)) -gt 0 ]; then
  command -v hyperfine >/dev/null 2>&1 || die "hyperfine not found"
fi
if [ "$WANT_PARKED" = 1 ]; then
  [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found"
fi

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

# Go: the peers are built into $TMP/go (never into the repository), only
# when a concurrency row or the parked measurement needs them. Without a Go
# toolchain those rows run Skein alone.
HAVE_GO=0
GOBIN=$TMP/go
if [ $((WANT_CONC + WANT_PARKED)) -gt 0 ]; then
  if [ -z "${GO:-}" ]; then
    GO=$(command -v go || true)
    if [ -z "$GO" ] && [ -x /usr/lib/go-1.19/bin/go ]; then
      GO=/usr/lib/go-1.19/bin/go
    fi
  fi
  if [ -n "$GO" ] && [ -x "$GO" ]; then
    mkdir -p "$GOBIN"
    for peer in pingpong spawn sieve parallel; do
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
fi

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

# median FILE: the median of the integers in FILE, one a line (the lower
# middle one for an even count).
median() {
  sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# max_rss_kb CMD...: runs CMD under GNU time and prints its max RSS in KiB;
# dies when the program fails.
max_rss_kb() {
  local rc=0
  /usr/bin/time -f %M -o "$TMP/rss" "$@" >/dev/null 2>"$TMP/stderr" || rc=$?
  if [ "$rc" != 0 ]; then
    tail -n 20 "$TMP/stderr" >&2
    die "failed with status $rc: $*"
  fi
  tail -n 1 "$TMP/rss"
}

{
  echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
  versions="$("$PYTHON" --version) ($PYTHON)"
  if [ "$WANT_CORE" = 1 ]; then versions="$("$LUA" -v 2>&1 | cut -d' ' -f1-2); $versions"; fi
  if [ "$HAVE_GO" = 1 ]; then versions="$versions; $("$GO" version | cut -d' ' -f3)"; fi
  if [ $((WANT_CORE + WANT_CONC)) -gt 0 ]; then versions="$versions; $(hyperfine --version)"; fi
  echo "# versions: $versions; skein $SKEIN"
  echo "# peers: $PEERS"
} >&2

TABLE="$TMP/table.md"
: >"$TABLE"

# ---- Core workloads: Skein vs Lua 5.4 vs CPython. ----
ROWS=()
for spec in "${WORKLOADS[@]}"; do
  read -r name sk peer args kind <<<"$spec"
  selected "$name" || continue
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
if [ ${#ROWS[@]} -gt 0 ]; then
  {
    echo "| workload | skein mean (s) | lua5.4 mean (s) | python3 mean (s) | skein/lua | skein/python | targets met (<= 1.0x lua, <= 0.5x python) |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${ROWS[@]}"
  } >>"$TABLE"
fi

# ---- Concurrency workloads: Skein vs Go at each processor count. ----
CONC_ROWS=()
SPEEDUP_ROWS=()
for spec in "${CONC_WORKLOADS[@]}"; do
  read -r name sk peer args expected <<<"$spec"
  selected "$name" || continue
  [ -f "$HERE/$sk" ] || die "$name: missing program $HERE/$sk"
  GO_ARGS=()
  [ "$args" = - ] || GO_ARGS=("$args")

  # One hyperfine invocation per workload times every (program, processor
  # count) pair, so the speed-up compares runs made under the same load.
  CMDS=()
  for p in "${PROCS[@]}"; do
    SK_CMD=("$SKEIN" run --procs "$p" "$HERE/$sk")
    echo "# $name: checking checksums at $p processor(s)" >&2
    c_sk=$(checksum_of "skein $name --procs $p" "${SK_CMD[@]}")
    [ "$c_sk" = "checksum $expected" ] ||
      die "$name: skein --procs $p printed '$c_sk', expected 'checksum $expected'"
    CMDS+=(--command-name "skein@$p" "$(printf '%q ' "${SK_CMD[@]}")")
    if [ "$HAVE_GO" = 1 ]; then
      # env sets GOMAXPROCS without a shell; its exec costs well under a
      # millisecond, far below these programs' run times.
      GO_CMD=(env "GOMAXPROCS=$p" "$GOBIN/$peer" "${GO_ARGS[@]}")
      c_go=$(checksum_of "go $name GOMAXPROCS=$p" "${GO_CMD[@]}")
      [ "$c_go" = "checksum $expected" ] ||
        die "$name: go GOMAXPROCS=$p printed '$c_go', expected 'checksum $expected'"
      CMDS+=(--command-name "go@$p" "$(printf '%q ' "${GO_CMD[@]}")")
    fi
  done
  echo "#   checksum $expected" >&2

  hyperfine -N --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$TMP/$name.json" "${CMDS[@]}" >&2

  out=$("$PYTHON" - "$TMP/$name.json" "$name" "$HAVE_GO" "${PROCS[@]}" <<'PYEOF'
import json
import sys

path, name, have_go = sys.argv[1:4]
procs = sys.argv[4:]
means = {r["command"]: r["mean"] for r in json.load(open(path))["results"]}
impls = ["skein", "go"] if have_go == "1" else ["skein"]
for p in procs:
    sk = means[f"skein@{p}"]
    if have_go == "1":
        go = means[f"go@{p}"]
        print(f"ROW | {name} | {p} | {sk:.3f} | {go:.3f} | {sk / go:.2f}x |")
    else:
        print(f"ROW | {name} | {p} | {sk:.3f} | - | - |")
# The speed-up from one processor to two: mean time at 1 / mean time at 2.
if "1" in procs and "2" in procs:
    for impl in impls:
        t1, t2 = means[f"{impl}@1"], means[f"{impl}@2"]
        print(f"SPEEDUP | {name} | {impl} | {t1:.3f} | {t2:.3f} | {t1 / t2:.2f}x |")
PYEOF
  )
  while IFS= read -r line; do
    case $line in
      "ROW "*) CONC_ROWS+=("${line#ROW }") ;;
      "SPEEDUP "*) SPEEDUP_ROWS+=("${line#SPEEDUP }") ;;
    esac
  done <<<"$out"
done
if [ ${#CONC_ROWS[@]} -gt 0 ]; then
  if [ -s "$TABLE" ]; then echo >>"$TABLE"; fi
  {
    echo "| workload | procs | skein mean (s) | go mean (s) | skein/go |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${CONC_ROWS[@]}"
  } >>"$TABLE"
fi
if [ ${#SPEEDUP_ROWS[@]} -gt 0 ]; then
  {
    echo
    echo "| workload | program | 1 proc mean (s) | 2 procs mean (s) | speed-up (1 / 2) |"
    echo "|---|---|---:|---:|---:|"
    printf '%s\n' "${SPEEDUP_ROWS[@]}"
  } >>"$TABLE"
fi

# ---- Memory per parked goroutine. ----
if [ "$WANT_PARKED" = 1 ]; then
  [ -f "$HERE/parked.sk" ] || die "missing program $HERE/parked.sk"
  TRIVIAL="$TMP/trivial.sk"
  echo 'print "checksum 0";' >"$TRIVIAL"
  SK_PARK=("$SKEIN" run --procs "$PARKED_PROCS" "$HERE/parked.sk")
  SK_BASE=("$SKEIN" run --procs "$PARKED_PROCS" "$TRIVIAL")
  echo "# parked: checking the checksum" >&2
  c_sk=$(checksum_of "skein parked" "${SK_PARK[@]}")
  [ "$c_sk" = "checksum $PARKED_N" ] ||
    die "parked: skein printed '$c_sk', expected 'checksum $PARKED_N'"
  echo "# parked: $RUNS max-RSS samples of each program" >&2
  : >"$TMP/sk_park"
  : >"$TMP/sk_base"
  for _ in $(seq "$RUNS"); do
    max_rss_kb "${SK_PARK[@]}" >>"$TMP/sk_park"
    max_rss_kb "${SK_BASE[@]}" >>"$TMP/sk_base"
  done
  park_kb=$(median "$TMP/sk_park")
  base_kb=$(median "$TMP/sk_base")
  PARKED_ROWS=("| skein parked.sk | $park_kb | $base_kb (trivial script) | $(((park_kb - base_kb) * 1024 / PARKED_N)) | - |")
  if [ "$HAVE_GO" = 1 ]; then
    GO_PARK=(env "GOMAXPROCS=$PARKED_PROCS" "$GOBIN/spawn" park "$PARKED_N")
    GO_BASE=(env "GOMAXPROCS=$PARKED_PROCS" "$GOBIN/spawn" park 1)
    c_go=$(checksum_of "go spawn park" "${GO_PARK[@]}")
    [ "$c_go" = "checksum $PARKED_N" ] ||
      die "parked: go printed '$c_go', expected 'checksum $PARKED_N'"
    # Go's own figure: the VmRSS growth it measures inside the process.
    inproc=$("${GO_PARK[@]}" | awk '$1 == "metric" && $2 == "rss_bytes_per_parked" { print $3 }')
    : >"$TMP/go_park"
    : >"$TMP/go_base"
    for _ in $(seq "$RUNS"); do
      max_rss_kb "${GO_PARK[@]}" >>"$TMP/go_park"
      max_rss_kb "${GO_BASE[@]}" >>"$TMP/go_base"
    done
    gpark_kb=$(median "$TMP/go_park")
    gbase_kb=$(median "$TMP/go_base")
    PARKED_ROWS+=("| go spawn park | $gpark_kb | $gbase_kb (\`spawn park 1\`) | $(((gpark_kb - gbase_kb) * 1024 / PARKED_N)) | ${inproc:--} |")
  fi
  if [ -s "$TABLE" ]; then echo >>"$TABLE"; fi
  {
    echo "| $PARKED_N parked goroutines, $PARKED_PROCS procs | median max RSS (KiB) | baseline median max RSS (KiB) | bytes per parked goroutine | Go's in-process VmRSS growth per goroutine |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s\n' "${PARKED_ROWS[@]}"
  } >>"$TABLE"
fi

cat "$TABLE"
if [ -n "$OUTFILE" ]; then
  cp "$TABLE" "$OUTFILE"
  echo "# tables written to $OUTFILE" >&2
fi
