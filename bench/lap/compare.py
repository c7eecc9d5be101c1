"""Driver for bench/lap/run: generates each case once with bench_lap (one
seed, one file), then alternates sinkrb and SciPy processes on that file,
one timed solve (after a warm-up) per process, and prints medians.

usage: compare.py <bench_lap> <ref_scipy.py> <tmpdir> <reps>"""
import os
import statistics
import subprocess
import sys

CASES = [("uniform", 512), ("uniform", 2048), ("nearperm", 512),
         ("nearperm", 2048), ("wmlike", 512)]


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    ms, obj = out.split()
    return float(ms), float(obj)


def main():
    bench, ref, tmp, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    files = {}
    for seed, (kind, n) in enumerate(CASES, start=1):
        path = os.path.join(tmp, f"{kind}{n}.bin")
        subprocess.run([bench, "gen", kind, str(n), str(seed), path], check=True)
        files[(kind, n)] = path
    ours = {c: [] for c in CASES}
    theirs = {c: [] for c in CASES}
    objs = {c: set() for c in CASES}
    for rep in range(reps):
        for c in CASES:
            a = [bench, "time", files[c], "1"]
            b = ["/usr/bin/python3", ref, files[c], "1"]
            order = [(a, ours), (b, theirs)] if rep % 2 == 0 else [(b, theirs), (a, ours)]
            for cmd, acc in order:
                ms, obj = run(cmd)
                acc[c].append(ms)
                objs[c].add((acc is ours, obj))
    print(f"LAP (maximise), median of {reps} interleaved runs, same matrices for both")
    print(f"{'case':<16} {'sinkrb ms':>10} {'scipy ms':>10} {'ratio':>7}  objective")
    bad = 0
    for kind, n in CASES:
        c = (kind, n)
        mo, mt = statistics.median(ours[c]), statistics.median(theirs[c])
        vo = [o for w, o in objs[c] if w]
        vt = [o for w, o in objs[c] if not w]
        ok = all(abs(x - y) <= 1e-9 * abs(y) for x in vo for y in vt)
        bad += not ok
        print(f"{kind + ' ' + str(n):<16} {mo:10.2f} {mt:10.2f} {mt / mo:7.2f}  "
              f"{vt[0]:.12g} {'agree' if ok else 'MISMATCH %r vs %r' % (vo, vt)}")
    print("ratio = scipy / sinkrb (>= 1: sinkrb no slower)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
