#!/usr/bin/python3
"""Sinkhorn forward (20 iterations) + implicit backward: sinkrb vs a PyTorch
reference implementing the published approach (log-domain forward in torch,
backward by a dense (2n-1) x (2n-1) KKT solve with torch.linalg.solve),
written from doc/algorithms.md section 7.

Usage: bench_sinkhorn.py BENCH_BINARY [--sizes 128,512,1024] [--threads 2,1]
                         [--rounds 5] [--reps 3]
Interleaves: per round, sinkrb (a warm server process) then torch float32 then
torch float64; medians over rounds x reps. Also cross-checks dX on the same
X, G (X = I + 0.1 N(0,1), G ~ N(0,1), written by the C side).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

TAU, ITERS, SCALE = 1.0, 20, 1.0


def sinkhorn_forward(X, tau=TAU, iters=ITERS, scale=SCALE):
    L = scale * X / tau
    for _ in range(iters):
        L = L - torch.logsumexp(L, dim=0, keepdim=True)  # columns
        L = L - torch.logsumexp(L, dim=1, keepdim=True)  # rows
    return L.exp()


def sinkhorn_backward_kkt(P, G, tau=TAU, scale=SCALE):
    """Dense KKT solve with v_{n-1} = 0 (the published code's approach)."""
    n = P.shape[0]
    r, c = P.sum(1), P.sum(0)
    Gh = -(G * P) / tau
    M = torch.zeros(2 * n - 1, 2 * n - 1, dtype=P.dtype)
    M[:n, :n] = torch.diag(r)
    M[:n, n:] = P[:, :n - 1]
    M[n:, :n] = P[:, :n - 1].T
    M[n:, n:] = torch.diag(c[:n - 1])
    rhs = torch.cat([Gh.sum(1), Gh.sum(0)[:n - 1]])
    x = torch.linalg.solve(M, rhs)
    u = x[:n]
    v = torch.cat([x[n:], torch.zeros(1, dtype=P.dtype)])
    dC = Gh - P * (u[:, None] + v[None, :])
    return -scale * dC


def torch_step(X, G):
    P = sinkhorn_forward(X)
    return sinkhorn_backward_kkt(P, G)


def time_torch(X, G, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch_step(X, G)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


class Server:
    def __init__(self, binary):
        self.p = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        ans = self.p.stdout.readline().strip()
        if not ans or ans.startswith("error"):
            sys.exit("bench_sinkhorn: %s -> %s" % (line, ans or "no answer"))
        return ans

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        self.p.wait()


def load(d, name, n):
    a = np.fromfile(os.path.join(d, "%s_%d.f64" % (name, n)), dtype=np.float64)
    return a.reshape(n, n)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--sizes", default="128,512,1024")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    threads = [int(s) for s in a.threads.split(",")]
    srv = Server(a.binary)
    pause = 0.2  # let the other side's spinning worker threads go to sleep

    print("# Cross-check on the same X, G (dX relative to max |dX|, torch's own forward)")
    inputs = {}
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            srv.ask("dump %d %s" % (n, d))
            X, G, dX = load(d, "X", n), load(d, "G", n), load(d, "dX", n)
            inputs[n] = (X, G)
            ref = np.abs(dX).max()
            for dt in (torch.float32, torch.float64):
                t = torch_step(torch.from_numpy(X).to(dt), torch.from_numpy(G).to(dt))
                err = np.abs(t.double().numpy() - dX).max() / ref
                print("n=%-5d torch %-7s max|dX_sinkrb - dX_torch| / max|dX| = %.2e  %s" %
                      (n, str(dt).replace("torch.", ""), err,
                       "ok" if err < (1e-4 if dt == torch.float32 else 1e-9) else "MISMATCH"))

    print()
    print("# Forward (20 iterations, tau 1) + implicit backward; median ms over %d rounds x %d reps,"
          " interleaved" % (a.rounds, a.reps))
    print("%-5s %-3s %10s %9s %9s %12s %12s %7s %7s" %
          ("n", "thr", "sinkrb_ms", "(fwd", "bwd)", "torch32_ms", "torch64_ms",
           "ratio32", "ratio64"))
    for th in threads:
        torch.set_num_threads(th)
        for n in sizes:
            X, G = inputs[n]
            X32, G32 = torch.tensor(X, dtype=torch.float32), torch.tensor(G, dtype=torch.float32)
            X64, G64 = torch.tensor(X), torch.tensor(G)
            torch_step(X32, G32)  # warm-up
            torch_step(X64, G64)
            ours, fw, bw, t32, t64, fb = [], [], [], [], [], 0
            for _ in range(a.rounds):
                vals = srv.ask("time %d %d %d" % (n, th, a.reps)).split()
                for i in range(0, len(vals), 3):
                    f, b = float(vals[i]), float(vals[i + 1])
                    fw.append(f)
                    bw.append(b)
                    ours.append(f + b)
                    fb += int(vals[i + 2])
                time.sleep(pause)
                t32 += time_torch(X32, G32, a.reps)
                time.sleep(pause)
                t64 += time_torch(X64, G64, a.reps)
                time.sleep(pause)
            m = float(np.median(ours))
            print("%-5d %-3d %10.2f %9.2f %9.2f %12.2f %12.2f %6.1fx %6.1fx%s" %
                  (n, th, m, np.median(fw), np.median(bw), np.median(t32), np.median(t64),
                   np.median(t32) / m, np.median(t64) / m,
                   "  (fallback used %d times)" % fb if fb else ""))
            sys.stdout.flush()
    srv.close()


if __name__ == "__main__":
    main()
