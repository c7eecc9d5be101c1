#!/usr/bin/python3
"""PyTorch peer of bench/nn/nn_bench.c: same models, batch, optimiser.
   torch_train.py mlp|eval|vgg11|vgg11bn|resnet20|vgg11eval|resnet20eval THREADS STEPS
   -> "torch-<what> N samples/s"."""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at each pixel (sinkrb's layernorm in conv nets)."""

    def __init__(self, c):
        super().__init__()
        self.ln = nn.LayerNorm(c)

    def forward(self, x):
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def vgg11(norm="layernorm"):
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            nl = nn.BatchNorm2d(v) if norm == "batchnorm" else ChannelLayerNorm(v)
            layers += [nn.Conv2d(c, v, 3, padding=1), nl, nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 512), nn.ReLU(inplace=True),
                         nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Linear(512, 10))


class BasicBlock(nn.Module):
    """sinkrb's ResNet20 block (python/sinkrb_models.py): the shortcut is a 3x3
    stride-2 conv + norm when stride or width change."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """Width 1, batchnorm, global average pooling, as sinkrb's resnet20."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for s in range(3):
            cout = 16 << s
            for b in range(3):
                blocks.append(BasicBlock(cin, cout, 2 if (s > 0 and b == 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def evaluate(what, threads, steps):
    """Forward only (no_grad, eval mode) + loss: the MLP 10 batches of 1000 per
    step (with accuracy) after 3 untimed steps, the conv nets one batch of 500
    after one."""
    if what == "eval":
        model, B, shape, per, warm = mlp(), 1000, (1, 28, 28), 10, 3
    else:
        model = ResNet20() if what.startswith("resnet20") else vgg11()
        B, shape, per, warm = 500, (3, 32, 32), 1, 1
    model.eval()
    x = torch.rand((B,) + shape)
    y = torch.arange(B) % 10
    times, cpu = [], []
    with torch.no_grad():
        for s in range(steps + warm):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(per):
                out = model(x)
                F.cross_entropy(out, y).item()
                if what == "eval":
                    (out.argmax(1) == y).sum().item()
            if s >= warm:
                times.append((time.perf_counter() - t0) / per)
                cpu.append((time.process_time() - c0) / per)
    print("torch-%s %.0f samples/s (%d threads) cpu %.0f" % (what, B / statistics.median(times), threads,
                                                             B / statistics.median(cpu)))


def main():
    what, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if what.endswith("eval"):
        return evaluate(what, threads, steps)
    if what == "mlp":
        model = mlp()
        B, shape = 500, (1, 28, 28)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    elif what == "resnet20":
        model = ResNet20()
        B, shape = 128, (3, 32, 32)
        opt = None
    else:
        model = vgg11("batchnorm" if what == "vgg11bn" else "layernorm")
        B, shape = 128, (3, 32, 32)
        opt = None
    x = torch.rand((B,) + shape)
    y = torch.arange(B) % 10
    model.train()
    times, cpu = [], []
    warm = 1 if steps < 5 else 3   # untimed warm-up steps (as nn_bench)
    for s in range(steps + warm):
        t0, c0 = time.perf_counter(), time.process_time()
        if opt:
            opt.zero_grad(set_to_none=True)
        else:
            model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if opt:
            opt.step()
        if s >= warm:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print("torch-%s %.0f samples/s (%d threads) cpu %.0f" % (what, B / statistics.median(times), threads,
                                                             B / statistics.median(cpu)))


if __name__ == "__main__":
    main()
