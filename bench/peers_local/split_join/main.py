# split_join: str.split and str.join over a 10 MB text, five rounds, the
# peer of bench/split_join.sk.
import sys


def main(path):
    with open(path) as f:
        text = f.read()
    lines = words = total = 0
    for _ in range(5):
        ls = text.split("\n")
        ws = text.split(" ")
        lines += len(ls)
        words += len(ws)
        total += len("\n".join(ls)) + len(" ".join(ws))
    print(f"checksum {lines} {words} {total}")


main(sys.argv[1])
