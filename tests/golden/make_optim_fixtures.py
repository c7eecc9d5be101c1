#!/usr/bin/python3
"""Golden trajectories of torch.optim (PyTorch 1.13) for tests/test_optim.c.

Run with Debian's python (torch 1.13, h5py):
    /usr/bin/python3 tests/golden/make_optim_fixtures.py tests/fixtures/optim_golden.h5

Two parameters, w (4, 3) and b (5,), are trained for STEPS steps on a fixed
sequence of gradients (the gradient of a quadratic plus a deterministic
perturbation, taken at the current parameters). Per case the file holds the
group /cases/<name> with
    params (STEPS+1, 17) float32  flat [w, b] before each step and at the end
    grads  (STEPS, 17)   float32  gradients before clipping
    lr     (STEPS,)      float64  lr used at each step (param_groups[0]['lr'])
and attributes naming the sk_optim_opts fields (kind and schedule as strings).
The C test rebuilds the options, replays the gradients and compares.
"""
import math
import sys

import h5py
import numpy as np
import torch

STEPS = 10


def grad_fn(k, flat):
    """Deterministic gradient at step k: A p - c + 0.3 sin(k + i)."""
    n = flat.numel()
    i = torch.arange(n, dtype=torch.float64)
    a = 0.5 + (i % 5) * 0.25
    c = torch.cos(i * 0.7)
    return (a * flat.double() - c + 0.3 * torch.sin(k + 1.3 * i)).float()


def run_case(name, opts, grp):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    w = torch.nn.Parameter(torch.randn(4, 3, generator=g))
    b = torch.nn.Parameter(torch.randn(5, generator=g))
    params = [w, b]
    kind = opts["kind"]
    lr = opts["lr"]
    wd = opts.get("weight_decay", 0.0)
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=opts.get("momentum", 0.0),
                              weight_decay=wd, nesterov=bool(opts.get("nesterov", 0)),
                              foreach=False)
    elif kind == "adam":
        opt = torch.optim.Adam(params, lr=lr, betas=(opts["beta1"], opts["beta2"]),
                               eps=opts["eps"], weight_decay=wd, foreach=False)
    else:
        opt = torch.optim.AdamW(params, lr=lr, betas=(opts["beta1"], opts["beta2"]),
                                eps=opts["eps"], weight_decay=wd, foreach=False)
    sched_name = opts.get("schedule", "constant")
    if sched_name == "cosine":
        total, warm = opts["total_steps"], opts["warmup_steps"]

        def lam(k):
            if k < warm:
                return k / warm
            prog = min(1.0, (k - warm) / max(1, total - warm))
            return 0.5 * (1.0 + math.cos(math.pi * prog))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    elif sched_name == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=opts["step_size"], gamma=opts["gamma"])
    elif sched_name == "exponential":
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=opts["gamma"])
    else:
        sched = None

    traj, grads, lrs = [], [], []
    for k in range(STEPS):
        flat = torch.cat([p.detach().reshape(-1) for p in params])
        traj.append(flat.clone().numpy())
        gr = grad_fn(k, flat)
        grads.append(gr.clone().numpy())
        w.grad = gr[:12].reshape(4, 3).clone()
        b.grad = gr[12:].clone()
        if opts.get("clip_value", 0) > 0:
            torch.nn.utils.clip_grad_value_(params, opts["clip_value"])
        if opts.get("clip_norm", 0) > 0:
            torch.nn.utils.clip_grad_norm_(params, opts["clip_norm"])
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    traj.append(torch.cat([p.detach().reshape(-1) for p in params]).numpy())

    h = grp.create_group(name)
    h.create_dataset("params", data=np.stack(traj).astype(np.float32))
    h.create_dataset("grads", data=np.stack(grads).astype(np.float32))
    h.create_dataset("lr", data=np.array(lrs, dtype=np.float64))
    for key in ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "clip_norm",
                "clip_value", "gamma"):
        h.attrs[key] = np.float64(opts.get(key, 0.0))
    for key in ("nesterov", "total_steps", "warmup_steps", "step_size"):
        h.attrs[key] = np.int64(opts.get(key, 0))
    h.attrs["kind"] = np.bytes_(kind)
    h.attrs["schedule"] = np.bytes_(sched_name)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/optim_golden.h5"
    adam = dict(beta1=0.9, beta2=0.999, eps=1e-8)
    cases = {}
    for wd in (0.0, 0.01):
        tag = "wd" if wd else "nowd"
        cases[f"sgd_plain_{tag}"] = dict(kind="sgd", lr=0.05, weight_decay=wd)
        cases[f"sgd_mom_{tag}"] = dict(kind="sgd", lr=0.05, momentum=0.9, weight_decay=wd)
        cases[f"sgd_nesterov_{tag}"] = dict(kind="sgd", lr=0.05, momentum=0.9, nesterov=1, weight_decay=wd)
    for wd in (0.0, 0.1):
        tag = "wd" if wd else "nowd"
        cases[f"adam_{tag}"] = dict(kind="adam", lr=0.01, weight_decay=wd, **adam)
        cases[f"adamw_{tag}"] = dict(kind="adamw", lr=0.01, weight_decay=wd, **adam)
    # Schedules applied through the optimiser.
    cases["sgd_mom_step"] = dict(kind="sgd", lr=0.1, momentum=0.9, schedule="step", step_size=3, gamma=0.5)
    cases["adam_cosine_warmup"] = dict(kind="adam", lr=0.02, schedule="cosine", total_steps=8,
                                       warmup_steps=3, **adam)
    cases["adamw_exponential"] = dict(kind="adamw", lr=0.01, weight_decay=0.01, schedule="exponential",
                                      gamma=0.8, beta1=0.8, beta2=0.99, eps=1e-6)
    # Clipping (continual re-basin: SGD, wd 0.1, values clipped to 1e-3).
    cases["sgd_clip_value"] = dict(kind="sgd", lr=0.05, weight_decay=0.1, clip_value=1e-3)
    cases["sgd_mom_clip_norm"] = dict(kind="sgd", lr=0.05, momentum=0.9, clip_norm=0.5)
    cases["adamw_clip_both"] = dict(kind="adamw", lr=0.01, weight_decay=0.01, clip_value=0.4,
                                    clip_norm=0.6, **adam)
    with h5py.File(out, "w") as f:
        f.attrs["torch_version"] = np.bytes_(torch.__version__)
        f.attrs["steps"] = np.int64(STEPS)
        grp = f.create_group("cases")
        for name, opts in cases.items():
            run_case(name, opts, grp)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
