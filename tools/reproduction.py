#!/usr/bin/env python3
"""Write doc/reproduction.md from the results folders of the paper's experiments.

    python3 tools/reproduction.py [--results DIR] [--out doc/reproduction.md]

Every number in the report is read from a results folder that `sinkrb run`
wrote (metrics.json, and for sweeps each item's metrics.json); the paper's
numbers are the table PAPER below, each with where it comes from. An
experiment whose folder is missing is listed as not run, with the command
that runs it. The main plot of each experiment is copied next to the report
(doc/reproduction/<name>_<plot>.svg) so that the report shows it.

Standard library only: this is a documentation tool, not part of sinkrb.
"""
import argparse
import json
import math
import os
import shutil
import sys

# The paper's numbers (Pena et al., "Re-basin via implicit Sinkhorn
# differentiation", CVPR 2023), as far as the paper states or plots them.
PAPER = {
    "cifar_mlp": {
        "source": "CIFAR-10 MLP figure, values at lambda = 1/2 read off the plot (test split)",
        "loss": {"naive": 2.3, "weight_matching": 1.64, "sinkhorn_l2": 1.53, "ste": 1.51,
                 "sinkhorn_rnd": 1.40, "sinkhorn_mid": 1.37, "endpoints": 1.3},
        "accuracy": {"naive": 0.15, "weight_matching": 0.39, "sinkhorn_l2": 0.44, "ste": 0.46,
                     "sinkhorn_rnd": 0.49, "sinkhorn_mid": 0.50, "endpoints": 0.53},
    },
    "cifar_vgg": {
        "source": "VGG comparison on CIFAR-10, test loss barrier (naive / weight matching / C_L2)",
        "barrier": {"vgg11": (1.8, 0.29, 0.28), "vgg13": (2.0, 0.73, 0.73),
                    "vgg16": (1.95, 1.0, 1.1), "vgg19": (2.06, 2.25, 1.25)},
    },
    "rotated_mnist": {
        "source": "incremental learning on rotated MNIST, average accuracy (ACC) of re-basin",
        "acc": {"rebasin": 0.7814},
    },
}

# The experiments of the paper that sinkrb runs, in the paper's order:
# (results folder name, config, kind, what it is[, the command's options when
# they are not the config's defaults]). Beyond the paper: the
# width sweeps (Git Re-Basin's observation) and REPAIR (in the VGG and ResNet20
# runs).
EXPERIMENTS = [
    ("poly_mlp", "configs/poly_mlp.yaml", "align",
     "polynomial regression toy (1-10-1 tanh MLPs, degree 3), every method"),
    ("mnist_mlp", "configs/mnist_mlp.yaml", "align",
     "MNIST MLP comparison (2x512, the published example's protocol)"),
    ("cifar_mlp", "configs/cifar_mlp.yaml", "align",
     "CIFAR-10 MLP comparison (2x512, the paper's figure; the main job)"),
    ("recovery_mlp", "configs/recovery_mlp.yaml", "recovery",
     "planted permutation recovery, MNIST MLPs of depth 2, 4, 8, 16"),
    ("recovery_vgg", "configs/recovery_vgg.yaml", "recovery",
     "planted permutation recovery, VGG11-19"),
    ("cifar_vgg", "configs/cifar_vgg.yaml", "vgg",
     "VGG11/13/16/19 loss barriers on CIFAR-10, with REPAIR"),
    ("vgg11_layernorm", "configs/cifar_vgg.yaml", "vgg",
     "VGG11 with LayerNorm (Git Re-Basin's VGG) on CIFAR-10, with REPAIR",
     "--set model.norm=layernorm --set train.epochs=10 --set 'sweep.values=[vgg11]' -o results/vgg11_layernorm"),
    ("cifar_resnet20", "configs/cifar_resnet20.yaml", "align",
     "ResNet20 on CIFAR-10, with REPAIR"),
    ("cifar_resnet20_e12", "configs/cifar_resnet20.yaml", "align",
     "ResNet20 on CIFAR-10 trained twice as long (12 epochs), with REPAIR",
     "--set train.epochs=12 -o results/cifar_resnet20_e12"),
    ("width_mlp", "configs/width_mlp.yaml", "width",
     "barrier against width, MNIST MLPs 32-2048 wide (beyond the paper: Git Re-Basin's observation)"),
    ("width_resnet20", "configs/width_resnet20.yaml", "width",
     "barrier against width, ResNet20 x1, x2, x4 (beyond the paper)"),
    ("rotated_mnist", "configs/rotated_mnist.yaml", "continual",
     "incremental learning via re-basin on rotated MNIST"),
]

# Repetitions of an experiment (results folder, the command that made it);
# the report gives their mean +- sample std beside the single run.
REPEATS = {
    "cifar_mlp": ("cifar_mlp_r3", "sinkrb run configs/cifar_mlp.yaml --set repeat=3 -o results/cifar_mlp_r3"),
    "mnist_mlp": ("mnist_mlp_r3", "sinkrb run configs/mnist_mlp.yaml --set repeat=3 -o results/mnist_mlp_r3"),
    "rotated_mnist": ("rotated_mnist_r3",
                      "sinkrb run configs/rotated_mnist.yaml --set repeat=3 "
                      "--set 'continual.methods=[replay, rebasin]' -o results/rotated_mnist_r3"),
}

# Where sinkrb's protocol differs from the paper's, and why (protocol only:
# every number in the report comes from a results folder).
NOTES = {
    "poly_mlp": "Sinkhorn C_Mid and C_Rnd keep the last epoch's permutation, as the published "
                "code does; on this toy it can be worse than no alignment.",
    "mnist_mlp": "The published example's protocol (the first 10000 training images split "
                 "9000/1000, the best validation epoch of 50). STE runs at the published lr 0.01, "
                 "where its proxy never moves far enough to change weight matching's permutation: "
                 "its row equals weight matching's.",
    "cifar_mlp": "Endpoints trained on 49000 images with standardised inputs (the example's "
                 "9000/1000 split of the first 10000 images caps a 2x512 MLP at about 46% test "
                 "accuracy, short of the paper's endpoints); STE at lr 1. Better-conditioned "
                 "endpoints give smaller barriers for every aligned method than the paper's figure; "
                 "the order of the methods is what to compare.",
    "recovery_vgg": "The VGGs are their seeded initialisations at width 0.25 (16-128 channels), not "
                    "trained (recovery is a property of the weights); AdamW epsilon 1e-12 "
                    "(doc/algorithms.md). At width 1 one Sinkhorn step of VGG19 took 3.6 s here.",
    "cifar_vgg": "Width 0.25 (16-128 channels instead of 64-512), BatchNorm and 6 epochs, sized for a "
                 "2-core CPU (a LayerNorm VGG19 at this width does not reach 70% within such a budget: "
                 "see the config's header); BatchNorm statistics are recomputed at every lambda (on 20 batches of "
                 "128 training images), so "
                 "the naive and aligned barriers are those of BatchNorm nets with reset statistics. "
                 "The endpoints are far less accurate than fully trained VGGs (about 90% on CIFAR-10), and "
                 "the curves have 9 points on the test split. The paper gives no REPAIR columns "
                 "(REPAIR is not in its code). Training took 8-9 min per VGG11 endpoint and 16-26 min per "
                 "VGG19 one at one thread on a shared core (the logs beside the cached endpoints).",
    "vgg11_layernorm": "The paper's VGG11 row with Git Re-Basin's LayerNorm VGG at width 0.25, "
                       "10 epochs; 9 points on the test split.",
    "cifar_resnet20": "LayerNorm ResNet20 at width 1 trained for 6 epochs (Git Re-Basin trains for "
                      "hundreds), so the endpoints are weak (57-59% test accuracy); 9 points on the test "
                      "split. The paper reports no ResNet20 barrier to compare with. Model A's training "
                      "was resumed from its checkpoint across three processes: the wall time is the last "
                      "one's (A's last two epochs, B's six at 2.2-3.3 min per epoch with 2 threads, the "
                      "four curves with REPAIR about 14 min).",
    "cifar_resnet20_e12": "The same recipe with 12 epochs instead of 6 (a cosine schedule over the 12), "
                          "to see how the barriers move as the endpoints train longer; run from scratch "
                          "in one process.",
    "width_mlp": "The first 10000 MNIST training images, 5 epochs of Adam per endpoint (cheap "
                 "on purpose); naive and weight matching at every width.",
    "width_resnet20": "Each width's endpoints cost hours on this machine (the config gives the "
                      "estimate).",
    "rotated_mnist": "20 tasks of MNIST rotated by angles evenly spaced from 0 to 180 degrees, a 784-256-10 "
                     "MLP, 5 epochs of AdamW per task, "
                     "memory of 50 examples per task; ACC is the mean accuracy over all tasks "
                     "after the last.",
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, pct=False, nd=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, dict) and "mean" in v:  # an aggregate over repetitions
        m, s = v["mean"], v.get("std")
        if pct:
            return "%.1f%% ± %.1f" % (100 * m, 100 * (s or 0))
        return ("%." + str(nd) + "f ± %." + str(nd) + "f") % (m, s or 0)
    return ("%.1f%%" % (100 * v)) if pct else ("%." + str(nd) + "f") % v


def minutes(s):
    return "%.1f min" % (s / 60.0) if s is not None else "-"


def split_of(m, method):
    """The split the path was evaluated on: test when present."""
    r = m.get("methods", {}).get(method, {})
    for sp in ("test", "train"):
        if sp in r:
            return sp, r[sp]
    return None, None


def copy_plot(folder, plot, outdir, name):
    src = os.path.join(folder, plot)
    if not os.path.exists(src):
        return None
    os.makedirs(outdir, exist_ok=True)
    dst = os.path.join(outdir, "%s_%s" % (name, plot))
    shutil.copyfile(src, dst)
    return os.path.join(os.path.basename(outdir), os.path.basename(dst))


def endpoints_line(m):
    parts = []
    for e in ("a", "b"):
        ep = m.get("endpoints", {}).get(e)
        if not ep:
            continue
        acc = ep.get("test_accuracy")
        loss = ep.get("test_loss")
        parts.append("%s: test loss %s, accuracy %s" % (e.upper(), fmt(loss), fmt(acc, pct=True)))
    return "; ".join(parts)


def align_section(name, m, out):
    paper = PAPER.get(name, {})
    out.append("Endpoints: %s." % endpoints_line(m))
    out.append("")
    pl = paper.get("loss", {})
    pa = paper.get("accuracy", {})
    hdr = "| method | split | loss barrier | loss at 1/2 | accuracy at 1/2 |"
    sep = "|---|---|---|---|---|"
    if pl:
        hdr += " paper loss at 1/2 | paper accuracy at 1/2 |"
        sep += "---|---|"
    out += [hdr, sep]
    for meth in m.get("methods", {}):
        sp, r = split_of(m, meth)
        if r is None:
            continue
        row = "| %s | %s | %s | %s | %s |" % (meth, sp, fmt(r.get("loss", {}).get("barrier")),
                                            fmt(r.get("midpoint_loss")),
                                            fmt(r.get("midpoint_accuracy"), pct=True))
        if pl:
            row += " %s | %s |" % (fmt(pl.get(meth), nd=2), fmt(pa.get(meth), pct=True))
        out.append(row)
    if pl:
        out.append("")
        out.append("Paper: %s; endpoints %s loss, %s accuracy." %
                   (paper["source"], fmt(pl["endpoints"], nd=2), fmt(pa["endpoints"], pct=True)))


def agg(a):
    """mean +- std of an aggregate entry, or None."""
    return a if isinstance(a, dict) and "mean" in a else None


def repeats_section(name, out, results):
    rep = REPEATS.get(name)
    if not rep:
        return
    m = load(os.path.join(results, rep[0], "metrics.json"))
    if m is None or "aggregate" not in m:
        out += ["", "Repetitions: not run yet (`%s`)." % rep[1]]
        return
    a = m["aggregate"]
    out += ["", "Over %d repetitions (`%s`, %s wall), mean ± sample std:" % (
        a.get("complete", 0), rep[1], minutes(wall(m))), ""]
    if "methods" in a:
        out += ["| method | loss barrier | accuracy at 1/2 |", "|---|---|---|"]
        for meth, r in a["methods"].items():
            sp = "test" if "test" in r else "train"
            r = r.get(sp, {})
            out.append("| %s | %s | %s |" % (meth, fmt(agg(r.get("loss_barrier"))),
                                             fmt(agg(r.get("midpoint_accuracy")), pct=True)))
        eps = a.get("endpoints", {})
        parts = []
        for e in ("a", "b"):
            t = eps.get(e, {}).get("test", {})
            if t:
                parts.append("%s %s, loss %s" % (e.upper(), fmt(agg(t.get("accuracy")), pct=True),
                                                 fmt(agg(t.get("loss")))))
        if parts:
            out += ["", "Endpoints (test): %s." % "; ".join(parts)]
    elif "continual" in a:
        out += ["| method | ACC | forgetting | BWT |", "|---|---|---|---|"]
        for meth, r in a["continual"].items():
            out.append("| %s | %s | %s | %s |" % (meth, fmt(agg(r.get("acc")), pct=True),
                                                fmt(agg(r.get("forgetting")), pct=True),
                                                fmt(agg(r.get("bwt")), pct=True)))


def items(folder, m):
    for it in m.get("sweep", {}).get("items", []):
        sub = load(os.path.join(folder, it["label"], "metrics.json"))
        if sub is None:
            sub = load(os.path.join(it["output"], "metrics.json"))
        yield it, sub


def recovery_section(folder, m, out):
    out += ["| item (%s) | method | units recovered |" % m["sweep"]["key"], "|---|---|---|"]
    for it, sub in items(folder, m):
        if sub is None:
            out.append("| %s | (missing) | - |" % it["label"])
            continue
        for meth, r in sub.get("methods", {}).items():
            rec = r.get("recovery")
            if rec:
                out.append("| %s | %s | %s (%d of %d units) |" % (it["label"], meth, fmt(rec["rate"], pct=True),
                                                                rec["units_matched"], rec["units"]))


def barrier(sub, meth):
    """A method's loss barrier (test split when present); over repetitions
    the aggregate (mean +- std)."""
    if "aggregate" in sub:
        r = sub["aggregate"].get("methods", {}).get(meth, {})
        r = r.get("test") or r.get("train") or {}
        return agg(r.get("loss_barrier"))
    sp, r = split_of(sub, meth)
    return r.get("loss", {}).get("barrier") if r else None


def endpoint_accuracies(sub):
    if "aggregate" in sub:
        eps = sub["aggregate"].get("endpoints", {})
        return " / ".join(fmt(agg(eps.get(e, {}).get("test", {}).get("accuracy")), pct=True) for e in ("a", "b"))
    return " / ".join(fmt(sub["endpoints"][e].get("test_accuracy"), pct=True) for e in ("a", "b"))


def partial_sweep(folder):
    """An unfinished VGG sweep: the items whose unit folders are complete."""
    done = [a for a in PAPER["cifar_vgg"]["barrier"] if load(os.path.join(folder, a, "metrics.json"))]
    if not done:
        return None
    return {"sweep": {"items": [{"label": a, "value": a, "output": os.path.join(folder, a)} for a in done]}}


def vgg_section(folder, m, out):
    paper = PAPER["cifar_vgg"]["barrier"]
    out += ["Test loss barriers (REPAIR: the same path with every channel's statistics repaired).", "",
            "| arch | endpoints (test accuracy) | naive | weight matching | C_L2 | paper naive / WM / C_L2 "
            "| C_L2 <= WM | naive + REPAIR | WM + REPAIR | C_L2 + REPAIR |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for it, sub in items(folder, m):
        arch = it["value"]
        if sub is None:
            out.append("| %s | (missing) | | | | | | | | |" % arch)
            continue
        b = {meth: barrier(sub, meth) for meth in ("naive", "weight_matching", "sinkhorn_l2")}
        rb = {meth: barrier(sub, meth + "+repair") for meth in b}
        eps = endpoint_accuracies(sub)
        p = paper.get(arch)
        holds = "-"
        if isinstance(b["sinkhorn_l2"], float) and isinstance(b["weight_matching"], float):
            holds = "yes" if b["sinkhorn_l2"] <= b["weight_matching"] else "no"
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            arch, eps, fmt(b["naive"]), fmt(b["weight_matching"]), fmt(b["sinkhorn_l2"]),
            " / ".join("%.2f" % x for x in p) if p else "-", holds,
            fmt(rb["naive"]), fmt(rb["weight_matching"]), fmt(rb["sinkhorn_l2"])))


def width_section(folder, m, out):
    out += ["Test loss barrier per width (+ REPAIR where the config asks for it).", "",
            "| width | endpoints (test accuracy) | naive | weight matching | naive + REPAIR | WM + REPAIR |",
            "|---|---|---|---|---|---|"]
    for it, sub in items(folder, m):
        if sub is None:
            out.append("| %s | (missing) | | | | |" % it["label"])
            continue
        eps = endpoint_accuracies(sub)
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            it["label"], eps, fmt(barrier(sub, "naive")), fmt(barrier(sub, "weight_matching")),
            fmt(barrier(sub, "naive+repair")), fmt(barrier(sub, "weight_matching+repair"))))


def continual_section(name, m, out):
    paper = PAPER.get(name, {}).get("acc", {})
    out += ["| method | ACC | forgetting | BWT | paper ACC |", "|---|---|---|---|---|"]
    for meth, r in m.get("continual", {}).get("methods", {}).items():
        out.append("| %s | %s | %s | %s | %s |" % (meth, fmt(r.get("acc"), pct=True), fmt(r.get("forgetting"), pct=True),
                                                fmt(r.get("bwt"), pct=True), fmt(paper.get(meth), pct=True)))


def wall(m):
    """The run's wall time: for sweeps and repetitions the sum over their units."""
    if m.get("units"):
        return sum(u.get("wall_seconds") or 0 for u in m["units"])
    if m.get("sweep"):
        return sum(it.get("wall_seconds") or 0 for it in m["sweep"]["items"])
    return m.get("wall_seconds")


def cached(folder, m):
    """Whether the run (or any unit of it) loaded its endpoints from the endpoint cache."""
    subs = [sub for _, sub in items(folder, m)] if m.get("sweep") else [m]
    return any(any(e.get("cached") for e in (sub or {}).get("endpoints", {}).values() if isinstance(e, dict))
               for sub in subs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--out", default="doc/reproduction.md")
    a = ap.parse_args()
    outdir = os.path.join(os.path.dirname(a.out) or ".", "reproduction")
    out = ["# Reproduction report", "",
           "Generated by `python3 tools/reproduction.py` from the results folders under `%s/`; "
           "do not edit by hand. Every sinkrb number below is read from a `metrics.json` that "
           "`sinkrb run` wrote; the paper's numbers (Pena et al., CVPR 2023) are quoted with their "
           "source. Times are wall times of the run on the machine that ran it (see `threads` and "
           "`blas` in each metrics.json)." % a.results, ""]
    for name, config, kind, what, *args in EXPERIMENTS:
        folder = os.path.join(a.results, name)
        m = load(os.path.join(folder, "metrics.json"))
        cmd = "sinkrb run %s%s" % (config, " " + args[0] if args else "")
        out += ["## %s" % what, "", "Config `%s`; command `%s`." % (config, cmd), ""]
        if m is None and kind == "vgg":
            m = partial_sweep(folder)
            if m is not None:
                out += ["Partial: the sweep has not finished (no `%s/metrics.json`); the architectures whose "
                        "unit is complete:" % folder, ""]
                vgg_section(folder, m, out)
                if name in NOTES:
                    out += ["", "Protocol, and how it differs from the paper: " + NOTES[name]]
                out.append("")
                continue
        if m is None:
            out += ["Not run yet: no `%s/metrics.json`." % folder]
            if name in NOTES:
                out += ["", NOTES[name]]
            out.append("")
            continue
        nu = len(m.get("units") or [])
        th = m.get("threads", 0)
        out.append("Wall time %s%s (%d thread%s), sinkrb %s, finished %s.%s" % (
            minutes(wall(m)), " summed over its %d units" % nu if nu > 1 else "", th, "" if th == 1 else "s",
            m.get("sinkrb_version", "?"), m.get("finished", "?"),
            " The endpoint trainings, made once in the endpoint cache, are not included." if cached(folder, m)
            else ""))
        out.append("")
        plots = []
        if kind == "align":
            align_section(name, m, out)
            plots.append(copy_plot(folder, "lmc_loss.svg", outdir, name))
        elif kind == "recovery":
            recovery_section(folder, m, out)
            plots.append(copy_plot(folder, "sweep_summary.svg", outdir, name))
        elif kind in ("vgg", "width"):
            (vgg_section if kind == "vgg" else width_section)(folder, m, out)
            plots.append(copy_plot(folder, "sweep_summary.svg", outdir, name))
            if kind == "vgg":  # the VGG11 curves, with and without REPAIR
                plots.append(copy_plot(os.path.join(folder, "vgg11"), "lmc_loss.svg", outdir, name + "_vgg11"))
        else:
            continual_section(name, m, out)
            plots.append(copy_plot(folder, "accuracy.svg", outdir, name) or
                         copy_plot(folder, "cl_accuracy.svg", outdir, name))
        repeats_section(name, out, a.results)
        if name in NOTES:
            out += ["", "Protocol, and how it differs from the paper: " + NOTES[name]]
        for plot in plots:
            if plot:
                out += ["", "![%s](%s)" % (name, plot)]
        out.append("")
    text = "\n".join(out).rstrip() + "\n"
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
