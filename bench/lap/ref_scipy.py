"""SciPy reference for bench/lap: times scipy.optimize.linear_sum_assignment
(maximize=True) on a matrix file written by `bench_lap gen`.

usage: /usr/bin/python3 ref_scipy.py <file> <reps>
One warm-up, then <reps> timed solves; prints "ms objective" per solve."""
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


def load(path):
    with open(path, "rb") as f:
        if f.read(8) != b"SKLAPF64":
            sys.exit(f"{path}: not a matrix file")
        n, m = np.frombuffer(f.read(16), dtype="<i8")
        S = np.frombuffer(f.read(), dtype="<f8")
    if S.size != n * m:
        sys.exit(f"{path}: truncated")
    return S.reshape(int(n), int(m))


def main():
    S = load(sys.argv[1])
    reps = int(sys.argv[2])
    for r in range(-1, reps):
        t0 = time.perf_counter()
        rows, cols = linear_sum_assignment(S, maximize=True)
        ms = 1e3 * (time.perf_counter() - t0)
        obj = 0.0
        for i, j in zip(rows, cols):   # row order, like the C side
            obj += S[i, j]
        if r >= 0:
            print(f"{ms:.4f} {obj:.17g}")


if __name__ == "__main__":
    main()
