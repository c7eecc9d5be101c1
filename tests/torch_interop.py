#!/usr/bin/python3
"""PyTorch <-> sinkrb on every architecture (run by tests/torch_interop.sh).

For each case a module of python/sinkrb_models.py is built in PyTorch from a
seed (He-uniform weights so deep nets without norms keep their signal,
non-trivial norm affines, BatchNorm running statistics measured on real
training images and then perturbed, the last layer scaled so the logits have
standard deviation 3), exported with save_h5 as endpoint A. `sinkrb run` in
mode train loads A, saves its own seeded initialisation as endpoint B
(models.b.train: false) and evaluates both on the first TEST_N test images
(dataset.normalize: unit, pixel/255 on both sides). Then
  - A: PyTorch's eval-mode mean cross-entropy must match sinkrb's test loss
    within TOL (PyTorch -> sinkrb);
  - B: sinkrb's file must list exactly the module's state_dict keys, in order,
    with the same shapes; loaded with load_h5, PyTorch's loss must match
    sinkrb's within TOL (sinkrb -> PyTorch).
MNIST for MLPs, CIFAR-10 for conv nets. Exit 77 (skipped) when torch, h5py or
numpy cannot be imported or no data set has been fetched.

Environment: SINKRB (the binary), TOP_SRCDIR (for python/ and datasets/),
TMPDIR.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print("skipped: %s (Debian: apt-get install python3-torch python3-h5py python3-numpy; "
          "this is %s)" % (e, sys.executable))
    sys.exit(77)

TOP = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SINKRB = os.environ.get("SINKRB", os.path.join(TOP, "sinkrb"))
sys.dont_write_bytecode = True  # the source tree may be read-only (make distcheck)
sys.path.insert(0, os.path.join(TOP, "python"))
import sinkrb_models as sm  # noqa: E402

TOL = 1e-5
TEST_N = 200   # test images evaluated on both sides
STAT_N = 256   # training images for the BatchNorm running statistics

# (label, dataset, model section)
CASES = [
    ("mlp", "mnist", dict(arch="mlp", hidden=[128, 64])),
    ("mlp tanh dropout", "mnist", dict(arch="mlp", hidden=[100], activation="tanh", dropout=0.25)),
    ("mlp batchnorm", "mnist", dict(arch="mlp", hidden=[128, 64], norm="batchnorm")),
    ("mlp layernorm", "mnist", dict(arch="mlp", hidden=[128, 64], norm="layernorm")),
]
for _arch in ("vgg11", "vgg13", "vgg16", "vgg19"):
    for _norm in ("none", "batchnorm", "layernorm"):
        for _head in ("gitrebasin", "linear"):
            CASES.append(("%s %s %s" % (_arch, _norm, _head), "cifar10",
                          dict(arch=_arch, norm=_norm, head=_head, width=0.125)))
CASES += [
    # 64 * 5/128 = 2.5 channels: rounds to 3 (away from zero), as sinkrb's lround
    ("vgg11 batchnorm w=5/128", "cifar10", dict(arch="vgg11", norm="batchnorm", head="gitrebasin", width=0.0390625)),
    ("vgg11 layernorm tanh", "cifar10", dict(arch="vgg11", norm="layernorm", activation="tanh", width=0.125)),
    ("resnet20 batchnorm", "cifar10", dict(arch="resnet20", norm="batchnorm", width=1)),
    ("resnet20 layernorm", "cifar10", dict(arch="resnet20", norm="layernorm", width=0.5)),
    # 16 * 0.15625 = 2.5 channels -> 3
    ("resnet20 batchnorm tanh w=0.15625", "cifar10",
     dict(arch="resnet20", norm="batchnorm", activation="tanh", width=0.15625)),
]


def read_mnist(folder, split, n):
    base = {"train": "train", "test": "t10k"}[split]

    def raw(stem, header, count):
        p = os.path.join(folder, stem)
        f = open(p, "rb") if os.path.exists(p) else gzip.open(p + ".gz", "rb")
        with f:
            return np.frombuffer(f.read(header + count), dtype=np.uint8)[header:]

    x = raw(base + "-images-idx3-ubyte", 16, n * 784).reshape(n, 1, 28, 28)
    y = raw(base + "-labels-idx1-ubyte", 8, n)
    return x, y


def read_cifar10(folder, split, n):
    name = {"train": "data_batch_1.bin", "test": "test_batch.bin"}[split]
    rec = np.fromfile(os.path.join(folder, name), dtype=np.uint8, count=n * 3073).reshape(n, 3073)
    return rec[:, 1:].reshape(n, 3, 32, 32), rec[:, 0]


def unit(xb):
    """dataset.normalize: unit, as sinkrb's lookup table: (float)(v / 255.0)."""
    lut = (np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
    return torch.from_numpy(lut[xb])


def load_data(name):
    folder = os.path.join(TOP, "datasets", name)
    reader = read_mnist if name == "mnist" else read_cifar10
    try:
        xs, _ = reader(folder, "train", STAT_N)
        xt, yt = reader(folder, "test", TEST_N)
    except (OSError, ValueError):
        return None
    return folder, unit(xs), unit(xt), torch.from_numpy(yt.astype(np.int64))


def init_module(model, seed, xstat, xtest):
    """Seeded, non-trivial parameters and running statistics (see the top)."""
    g = torch.Generator().manual_seed(seed)

    def u(shape):
        return torch.rand(shape, generator=g) * 2 - 1

    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(u(mod.weight.shape) * (6.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * u(mod.bias.shape))
            elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, sm.ChannelLayerNorm)):
                mod.weight.copy_(1 + 0.2 * u(mod.weight.shape))
                mod.bias.copy_(0.1 * u(mod.bias.shape))
        bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
        if bns:
            model.train()
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the batches below
            for i in range(0, xstat.shape[0], 128):
                model(xstat[i:i + 128])
            for m in bns:
                m.momentum = 0.1
                m.running_mean.mul_(1 + 0.2 * u(m.running_mean.shape)).add_(0.05 * u(m.running_mean.shape))
                m.running_var.mul_(1 + 0.3 * u(m.running_var.shape))
        model.eval()
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        s = model(xtest).std().item()
        last.weight.mul_(3.0 / s)
        last.bias.mul_(3.0 / s)


def torch_eval(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
    loss = F.cross_entropy(logits.double(), y).item()
    acc = (logits.argmax(1) == y).double().mean().item()
    return loss, acc


def yaml_value(v):
    if isinstance(v, list):
        return "[%s]" % ", ".join(str(i) for i in v)
    return str(v)


def check_plain_files(tmp):
    """load_h5 also reads a plain h5py dump of a state_dict (no attributes,
    int64 num_batches_tracked), and names what does not fit."""
    problems = []
    src = sm.build("resnet20", norm="batchnorm", width=0.25, dataset="cifar10")
    init_module(src, 7, torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32))
    path = os.path.join(tmp, "plain.h5")
    with h5py.File(path, "w") as f:
        for k, v in src.state_dict().items():
            f[k] = v.numpy()
    dst = sm.load_h5(sm.build("resnet20", norm="batchnorm", width=0.25, dataset="cifar10"), path)
    for k, v in src.state_dict().items():
        if not k.endswith("num_batches_tracked") and not torch.equal(v, dst.state_dict()[k]):
            problems.append("plain dump: %s differs after load_h5" % k)
    try:
        sm.load_h5(sm.build("resnet20", norm="layernorm", width=0.25, dataset="cifar10"), path)
        problems.append("plain dump: a batchnorm file loaded into a layernorm model")
    except ValueError as e:
        if "extra:   bn1.running_mean" not in str(e):
            problems.append("plain dump: unexpected mismatch message: %s" % e)
    return problems


def start_case(k, label, ds, spec, data, tmp):
    """Build, initialise and export case k, evaluate it in PyTorch, and start
    sinkrb on it (running while the previous case is checked)."""
    folder, xstat, xtest, ytest = data
    model = sm.build(dataset=ds, **spec)
    init_module(model, 1000 + k, xstat, xtest)
    out = os.path.join(tmp, "case%02d" % k)
    os.makedirs(out)
    a, b = os.path.join(out, "a.h5"), os.path.join(out, "b.h5")
    sm.save_h5(model, a)
    cfg = os.path.join(out, "c.yaml")
    with open(cfg, "w") as f:
        f.write("name: interop\nmode: train\nthreads: 1\n")
        f.write("dataset:\n  name: %s\n  path: %s\n  normalize: unit\n  train_limit: 1\n  test_limit: %d\n"
                % (ds, folder, TEST_N))
        f.write("train:\n  eval_batch_size: %d\n" % TEST_N)
        f.write("model:\n" + "".join("  %s: %s\n" % (kk, yaml_value(v)) for kk, v in spec.items()))
        f.write("models:\n  a:\n    weights: %s\n  b:\n    weights: %s\n    train: false\n" % (a, b))
    la, acc_a = torch_eval(model, xtest, ytest)
    proc = subprocess.Popen([SINKRB, "run", cfg, "-o", out, "--progress", "never", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return dict(label=label, ds=ds, spec=spec, data=data, model=model, out=out, b=b, la=la, acc_a=acc_a,
                proc=proc)


def finish_case(c):
    """Wait for sinkrb and compare: returns (problems, table row or None)."""
    xtest, ytest = c["data"][2], c["data"][3]
    log = c["proc"].communicate()[0]
    if c["proc"].returncode != 0:
        return "sinkrb run failed (exit %d):\n%s" % (c["proc"].returncode, log), None
    with open(os.path.join(c["out"], "metrics.json")) as f:
        ep = json.load(f)["endpoints"]
    problems = []
    model = c["model"]
    # A: PyTorch -> sinkrb.
    da = abs(c["la"] - ep["a"]["test_loss"])
    if abs(c["acc_a"] - ep["a"]["test_accuracy"]) > 1.5 / TEST_N:
        problems.append("A accuracy: torch %.4f, sinkrb %.4f" % (c["acc_a"], ep["a"]["test_accuracy"]))
    # B: sinkrb -> PyTorch, names, order and shapes first.
    want = [(kk, tuple(v.shape)) for kk, v in model.state_dict().items() if not kk.endswith("num_batches_tracked")]
    with h5py.File(c["b"], "r") as f:
        order = f.attrs["param_order"]
        order = order.decode() if isinstance(order, bytes) else order
        got = [(kk, tuple(f[kk].shape)) for kk in order.split("\n")]
    if got != want:
        diff = [("%s %s" % w, "%s %s" % g) for w, g in zip(want, got) if w != g][:5]
        problems.append("B: sinkrb's tensors differ from the module's state_dict (%d vs %d; first: %s)"
                        % (len(got), len(want), diff))
        db = float("nan")
    else:
        model_b = sm.build(dataset=c["ds"], **c["spec"])
        sm.load_h5(model_b, c["b"])
        lb, _ = torch_eval(model_b, xtest, ytest)
        db = abs(lb - ep["b"]["test_loss"])
    for what, d in (("A", da), ("B", db)):
        if not d <= TOL:
            problems.append("%s: |torch - sinkrb| test loss = %.3g > %g" % (what, d, TOL))
    values = sum(int(v.numel()) for kk, v in model.state_dict().items() if not kk.endswith("num_batches_tracked"))
    return "; ".join(problems), (c["label"], values, c["la"], da, db)


def main():
    t0 = time.time()
    torch.set_num_threads(1)
    if not os.access(SINKRB, os.X_OK):
        print("FAIL: no sinkrb binary at %s" % SINKRB)
        return 1
    data = {}
    for ds in ("mnist", "cifar10"):
        data[ds] = load_data(ds)
        if data[ds] is None:
            print("note: datasets/%s absent (run datasets/fetch %s): its cases are not run" % (ds, ds))
    if all(v is None for v in data.values()):
        print("skipped: no data set fetched (datasets/fetch mnist cifar10)")
        return 77
    tmp = tempfile.mkdtemp(prefix="sinkrb-torch-", dir=os.environ.get("TMPDIR"))
    fail, rows = 0, []
    try:
        print("torch %s; %d test images per case; tolerance %g on the mean test loss" % (torch.__version__, TEST_N,
                                                                                      TOL))
        print("%-36s %9s %9s %10s %10s" % ("case", "values", "loss A", "|dA|", "|dB|"))
        for p in check_plain_files(tmp):
            print("FAIL %s" % p)
            fail = 1
        todo = [(k, c) for k, c in enumerate(CASES) if data[c[1]] is not None]
        prev = None
        for i in range(len(todo) + 1):
            cur = None
            if i < len(todo):
                k, (label, ds, spec) = todo[i]
                cur = start_case(k, label, ds, spec, data[ds], tmp)
            if prev is not None:
                err, row = finish_case(prev)
                if row:
                    rows.append(row)
                    print("%-36s %9d %9.5f %10.2e %10.2e" % row)
                if err:
                    print("FAIL %s: %s" % (prev["label"], err))
                    fail = 1
            prev = cur
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if rows:
        print("max |loss difference|: A %.2e, B %.2e over %d cases (%.1f s)"
              % (max(r[3] for r in rows), max(r[4] for r in rows), len(rows), time.time() - t0))
    return fail


if __name__ == "__main__":
    sys.exit(main())
