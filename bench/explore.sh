#!/usr/bin/env bash
# What `skein explore` finds, and how fast: the figures of the explore
# issue in bench/RESULTS.md.
#
# Usage: bench/explore.sh [-n EXPLORATIONS] [-l LIMIT]
#   -n EXPLORATIONS  explorations per program and strategy (default 20)
#   -l LIMIT         runs per exploration at most (default 1000)
#
# 1. Runs to the first failure: for each program of tests/explore/bugs/
#    and each strategy (random, pct), EXPLORATIONS explorations, the k-th
#    starting at seed k*1000, each of LIMIT runs at --procs 2; the runs to
#    the first run that ends the bug's way are its smallest seed minus the
#    first plus one (LIMIT+1 when none does). Prints the median.
# 2. Shrinking: each program's first failing random seed, shrunk: the
#    perturbing decisions before and after.
# 3. Throughput: 1,000 seeds of examples/pipeline.sk with --jobs 1 and
#    --jobs 2, and the ratio of their runs per second.
#
# Environment: SKEIN (default target/release/skein).
set -euo pipefail
cd "$(dirname "$0")/.."
n=20
limit=1000
while getopts "n:l:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    l) limit=$OPTARG ;;
    *) exit 64 ;;
  esac
done
skein=${SKEIN:-target/release/skein}
# Each program and the ending (last output line or error line) of its bug.
bugs=(
  "lost_update.sk|1"
  "check_then_act.sk|computed 2 time(s), value 42"
  "select_default.sk|missed"
  "handoff_deadlock.sk|fatal error: all goroutines are asleep - deadlock!"
  "waitgroup_inside.sk|0"
)

# The smallest seed of the outcome that ends `bad` in an explore table on
# stdin, or nothing.
first_failing_seed() {
  awk -v bad="$1" '
    /^outcome / { seed = ""; hit = 0 }
    /^  stdout:/ { if (index($0, "ending \"" bad "\"") > 0) hit = 1 }
    /^  error:/ { line = $0; sub(/^  error: +/, "", line); if (line == bad) hit = 1 }
    /^  first seed:/ { seed = $3 }
    /^  replay:/ { if (hit) print seed }
  ' | sort -n | head -1
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int(NR / 2) + 1] }'; }

echo "# runs to the first failure (median of $n explorations of at most $limit runs, --procs 2)"
printf "%-22s %8s %8s\n" program random pct
for entry in "${bugs[@]}"; do
  name=${entry%%|*}
  bad=${entry#*|}
  row=()
  for strategy in random pct; do
    m=$(for k in $(seq 0 $((n - 1))); do
          first=$((k * 1000))
          seed=$("$skein" explore --strategy "$strategy" --first-seed "$first" \
                   --seeds "$limit" --procs 2 "tests/explore/bugs/$name" \
                 | first_failing_seed "$bad" || true)
          if [ -n "$seed" ]; then echo $((seed - first + 1)); else echo $((limit + 1)); fi
        done | median)
    row+=("$m")
  done
  printf "%-22s %8s %8s\n" "$name" "${row[0]}" "${row[1]}"
done

echo
echo "# shrinking the first failing random seed"
for entry in "${bugs[@]}"; do
  name=${entry%%|*}
  bad=${entry#*|}
  seed=$("$skein" explore --strategy random --seeds 1000 --procs 2 "tests/explore/bugs/$name" \
         | first_failing_seed "$bad" || true)
  printf "%-22s seed %-4s " "$name" "$seed"
  "$skein" explore --shrink "$seed" --strategy random "tests/explore/bugs/$name" \
    | grep '^schedule:' | sed 's/^schedule: //'
done

echo
echo "# throughput: 1,000 seeds of examples/pipeline.sk"
for j in 1 2; do
  start=$(date +%s.%N)
  "$skein" explore --seeds 1000 --jobs $j examples/pipeline.sk >/dev/null || true
  end=$(date +%s.%N)
  t[$j]=$(echo "$end - $start" | bc -l)
  printf "jobs %d: %.2f s, %.0f runs/s\n" $j "${t[$j]}" "$(echo "1000 / ${t[$j]}" | bc -l)"
done
printf "jobs 2 / jobs 1: %.2fx the runs per second\n" "$(echo "${t[1]} / ${t[2]}" | bc -l)"
