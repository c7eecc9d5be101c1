#!/usr/bin/python3
"""Golden fixtures for the nn module (tests/test_nn_golden.c).

Run with Debian's python (torch 1.13, h5py):
    /usr/bin/python3 tests/golden/make_nn_fixtures.py tests/fixtures

For each small model, the PyTorch modules of python/sinkrb_models.py (the
definitions users export with, so the two cannot drift apart) are filled
with deterministic values from an integer hash (reproduced bit-exactly by
the C test, so parameters are not stored), then:
  logits_eval   eval-mode forward (running statistics)
  logits_train  train-mode forward (batch statistics), after logits_eval
  loss          mean softmax cross-entropy of logits_train with labels y
  grads/<name>  d loss / d param (full when numel <= FULL_MAX, else
                SAMPLES elements at grads_idx/<name>), plus grads_norm/<name>
  running/<name> running_mean / running_var after that one train forward
Attributes describe the architecture; the C test rebuilds it from them.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import sinkrb_models as sm  # noqa: E402

M64 = (1 << 64) - 1
FULL_MAX = 2048
SAMPLES = 256


def hash_u(seed, n):
    """n values uniform in [-1, 1), 24-bit, exactly representable in float32.
    Same as hash_u() in tests/test_nn_golden.c (splitmix64 finaliser)."""
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        z = (seed * 0x9E3779B97F4A7C15 + i * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & M64
        z ^= z >> 31
        z = (z * 0xBF58476D1CE4E5B9) & M64
        z ^= z >> 29
        z = (z * 0x94D049BB133111EB) & M64
        z ^= z >> 32
        out[i] = (z >> 40) / float(1 << 24) * 2.0 - 1.0
    return out


def fill_value(t, name, shape, is_norm):
    """Deterministic parameter values; t = index in the state_dict (without
    num_batches_tracked)."""
    n = int(np.prod(shape))
    u = hash_u(t + 1, n)
    if name.endswith("running_mean"):
        v = 0.2 * u
    elif name.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif is_norm and name.endswith(".weight"):
        v = 1.0 + 0.2 * u
    elif len(shape) == 1:
        v = 0.1 * u
    else:
        fan_in = n // shape[0]
        v = (1.0 / np.sqrt(float(fan_in))) * u
    return v.astype(np.float32).reshape(shape)


def norm_param_names(model):
    names = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, sm.ChannelLayerNorm)):
            for p in ("weight", "bias", "running_mean", "running_var"):
                names.add(mname + "." + p)
    return names


def write_fixture(path, model, attrs, in_shape, n_out, batch):
    torch.manual_seed(0)
    norms = norm_param_names(model)
    sd = model.state_dict()
    names = [k for k in sd.keys() if not k.endswith("num_batches_tracked")]
    new = {}
    for t, k in enumerate(names):
        new[k] = torch.from_numpy(fill_value(t, k, tuple(sd[k].shape), k in norms))
    model.load_state_dict(new, strict=False)
    x = torch.from_numpy(hash_u(1000, batch * int(np.prod(in_shape))).astype(np.float32)
                         .reshape((batch,) + tuple(in_shape)))
    y = torch.tensor([(3 * i + 1) % n_out for i in range(batch)], dtype=torch.long)
    model.eval()
    with torch.no_grad():
        le = model(x)
    model.train()
    lt = model(x)
    loss = F.cross_entropy(lt, y)
    loss.backward()
    params = dict(model.named_parameters())
    sd = model.state_dict()
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "sinkrb-nn-golden"
        f.attrs["version"] = 1
        f.attrs["torch"] = str(torch.__version__)
        for k, v in attrs.items():
            f.attrs[k] = v if not isinstance(v, str) else str(v)
        f.attrs["in_shape"] = np.array(in_shape, dtype=np.int32)
        f.attrs["n_out"] = n_out
        f.attrs["batch"] = batch
        f.attrs["names"] = "\n".join(names)
        f.attrs["n_tensors"] = len(names)
        f["logits_eval"] = le.numpy().astype(np.float32)
        f["logits_train"] = lt.detach().numpy().astype(np.float32)
        f["loss"] = np.float64(loss.item())
        f["y"] = y.numpy().astype(np.int32)
        for k in names:
            if k in params:
                g = params[k].grad.detach().numpy().astype(np.float32).ravel()
                f["grads_norm/" + k] = np.float64(np.linalg.norm(g.astype(np.float64)))
                if g.size <= FULL_MAX:
                    f["grads/" + k] = g
                else:
                    idx = (np.arange(SAMPLES, dtype=np.int64) * 7919 + 13) % g.size
                    f["grads_idx/" + k] = idx.astype(np.int32)
                    f["grads/" + k] = g[idx]
            else:
                f["running/" + k] = sd[k].numpy().astype(np.float32).ravel()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures")
    torch.set_num_threads(1)
    fx = [
        ("nn_mlp.h5", sm.MLP(64, [32, 24], 10, activation="relu"),
         dict(arch="mlp", hidden=np.array([32, 24], dtype=np.int32), act="relu", norm="none",
              width=1.0, head="gitrebasin"), (1, 8, 8), 10, 6),
        ("nn_mlp_tanh.h5", sm.MLP(5, [7], 3, activation="tanh"),
         dict(arch="mlp", hidden=np.array([7], dtype=np.int32), act="tanh", norm="none",
              width=1.0, head="gitrebasin"), (1, 1, 5), 3, 4),
        ("nn_vgg11_bn.h5", sm.VGG("vgg11", 0.125, "batchnorm", "gitrebasin", "relu", (3, 8, 8), 10),
         dict(arch="vgg11", norm="batchnorm", width=0.125, head="gitrebasin", act="relu"), (3, 8, 8), 10, 4),
        ("nn_vgg11_ln.h5", sm.VGG("vgg11", 0.125, "layernorm", "linear", "relu", (3, 16, 32), 10),
         dict(arch="vgg11", norm="layernorm", width=0.125, head="linear", act="relu"), (3, 16, 32), 10, 3),
        ("nn_resnet20_ln.h5", sm.ResNet20(0.5, "layernorm", "relu", 3, 10),
         dict(arch="resnet20", norm="layernorm", width=0.5, head="gitrebasin", act="relu"), (3, 8, 8), 10, 4),
        ("nn_resnet20_bn.h5", sm.ResNet20(0.5, "batchnorm", "relu", 3, 10),
         dict(arch="resnet20", norm="batchnorm", width=0.5, head="gitrebasin", act="relu"), (3, 8, 8), 10, 4),
    ]
    for fname, model, attrs, in_shape, n_out, batch in fx:
        write_fixture(os.path.join(out, fname), model, attrs, in_shape, n_out, batch)
        print("wrote", fname, os.path.getsize(os.path.join(out, fname)), "bytes")


if __name__ == "__main__":
    main()
