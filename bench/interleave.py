#!/usr/bin/env python3
"""Interleaved timing: run each command once per round, in turn.

Usage: bench/interleave.py ROUNDS PROGRAM COMMAND [COMMAND ...]

Each COMMAND (a binary and its flags, as one shell word, e.g.
"target/release/skein --procs 1") runs PROGRAM once per round, in the
order given, with its output discarded. For each command the script
prints the median, mean and least wall time, and the median over the
rounds of its time divided by the first command's time in the same round.

Why: on a shared machine whose load swings during a benchmark,
hyperfine's blocks (all runs of one command, then all of the next) turn
the swings into differences between commands. Taking each round's ratio
compares runs made seconds apart.
"""

import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    rounds = int(sys.argv[1])
    program = sys.argv[2]
    commands = sys.argv[3:]
    times = {c: [] for c in commands}
    for _ in range(rounds):
        for c in commands:
            start = time.perf_counter()
            subprocess.run(
                c.split() + [program],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            times[c].append(time.perf_counter() - start)
    first = times[commands[0]]
    for c in commands:
        ratios = [t / f for t, f in zip(times[c], first)]
        print(
            f"{c:45s} median {statistics.median(times[c]):.3f} s"
            f"  mean {statistics.mean(times[c]):.3f}  min {min(times[c]):.3f}"
            f"  ratio to the first: median {statistics.median(ratios):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
