# lines: `for line in open(path)` over a large file, the peer of
# bench/lines.sk. Counts the lines and their characters (ASCII text, so
# bytes), newlines included.
import sys


def main(path):
    n = 0
    total = 0
    for line in open(path):
        n += 1
        total += len(line)
    print(f"checksum {n} {total}")


main(sys.argv[1])
