#!/usr/bin/python3
"""SciPy/NumPy peer of bench/wm/wm_bench.c: weight matching (Git Re-Basin
Algorithm 1, doc/algorithms.md section 4) on two MLP checkpoints in sinkrb's HDF5
layout (layers.{i}.weight|bias), as the reference implementations do it:
float32 similarity products, scipy.optimize.linear_sum_assignment per group,
a fresh random group order per pass, stop after a pass without improvement.
   wm_ref.py MODEL_A.h5 MODEL_B.h5 [REPS]
-> "scipy-wm <median seconds> s <passes> passes objective <obj>"."""
import statistics
import sys
import time

import h5py
import numpy as np
from scipy.optimize import linear_sum_assignment


def load(path):
    with h5py.File(path, "r") as f:
        n = 0
        while "layers.%d.weight" % n in f:
            n += 1
        return [(np.asarray(f["layers.%d.weight" % i], np.float32), np.asarray(f["layers.%d.bias" % i], np.float32))
                for i in range(n)]


def weight_matching(A, B, seed=1, max_iter=100):
    L = len(A) - 1                    # hidden layers = permutation groups
    perms = [np.arange(A[g][0].shape[0]) for g in range(L)]
    rng = np.random.default_rng(seed)
    passes = 0
    for _ in range(max_iter):
        improved = False
        passes += 1
        for g in rng.permutation(L):
            Wa, ba = A[g]
            Wb, bb = B[g]
            if g > 0:
                Wb = Wb[:, perms[g - 1]]      # input axis already permuted
            S = Wa @ Wb.T + np.outer(ba, bb)
            Wa1 = A[g + 1][0]
            Wb1 = B[g + 1][0]
            if g + 1 < L:
                Wb1 = Wb1[perms[g + 1], :]
            S = (S + Wa1.T @ Wb1).astype(np.float64)
            _, new = linear_sum_assignment(S, maximize=True)
            old = perms[g]
            if S[np.arange(len(new)), new].sum() > S[np.arange(len(old)), old].sum() + 1e-12:
                improved = True
            perms[g] = new
        if not improved:
            break
    obj = 0.0
    for i in range(L + 1):
        Wb, bb = B[i]
        if i < L:
            Wb, bb = Wb[perms[i], :], bb[perms[i]]
        if i > 0:
            Wb = Wb[:, perms[i - 1]]
        obj += float(np.dot(A[i][0].ravel().astype(np.float64), Wb.ravel())) + float(np.dot(A[i][1], bb))
    return passes, obj


def main():
    A, B = load(sys.argv[1]), load(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        passes, obj = weight_matching(A, B)
        times.append(time.perf_counter() - t0)
    print("scipy-wm %.3f s %d passes objective %.6f" % (statistics.median(times), passes, obj))


if __name__ == "__main__":
    main()
