"""PyTorch definitions of the networks sinkrb builds, and its weights files.

Every module here has exactly sinkrb's parameter names (state_dict keys),
shapes, order and numerics (src/nn/model_build.c, src/nn/norm.c), so a model
trained in PyTorch can be aligned by sinkrb and a model sinkrb wrote can be
evaluated in PyTorch:

    import sinkrb_models as sm
    net = sm.build("vgg11", norm="layernorm", width=0.25)   # model.* config keys
    ... train net on CIFAR-10 (inputs 3x32x32) ...
    sm.save_h5(net, "model_a.h5")                          # models.a.weights
    sm.load_h5(net, "results/x/aligned_weight_matching.h5")

Architectures (the config's model.arch) and their names, w = model.width,
s(c) = max(1, round(c * w)) with halves rounded away from zero:

  mlp       layers.{i}.weight (out, in) / .bias for i = 0..len(hidden); with a
            norm, norms.{i}.weight|bias[|running_mean|running_var] after hidden
            linear i (all norms after all linears in the state_dict), then the
            activation, then dropout.
  vgg11..19 features.{i}: index in a torchvision-style Sequential of
            conv 3x3 pad 1 (with bias), [norm], activation, ..., 2x2 max pool;
            head gitrebasin: classifier.{0,2,4} = Linear(s(512)*H*W, s(512)),
            act, Linear(s(512), s(512)), act, Linear(s(512), classes);
            head linear: classifier = Linear(s(512)*H*W, classes).
  resnet20  conv1, bn1, layer{1,2,3}.{0,1,2}.conv1|bn1|conv2|bn2 (3x3 convs,
            no bias), shortcut.0 (3x3 stride-2 conv, no bias) and shortcut.1
            (norm) in the first block of stages 2 and 3, fc; widths s(16),
            s(32), s(64).

Norms: batchnorm = BatchNorm1d/2d (eps 1e-5, momentum 0.1); layernorm =
nn.LayerNorm over the features in an MLP and, in conv nets, ChannelLayerNorm:
over the channels at each pixel (NOT GroupNorm(1, C), which has the same
names and shapes but normalises over C, H and W together). PyTorch's
num_batches_tracked buffers are not in sinkrb's files (skipped on load).
"""
import math
import os

import h5py
import numpy as np
import torch
import torch.nn as nn

EPS = 1e-5
FORMAT = "sinkrb-weights"
FORMAT_VERSION = 1

VGG_LAYERS = {
    # channels before the width multiplier; "M" = 2x2 max pool
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}
ARCHS = ("mlp", "vgg11", "vgg13", "vgg16", "vgg19", "resnet20")
ACTIVATIONS = ("relu", "tanh")
NORMS = ("none", "batchnorm", "layernorm")
HEADS = ("gitrebasin", "linear")

# Input shape and classes of each dataset.name (cifar100 with labels: coarse has 20).
DATASETS = {
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "polynomial": ((1, 1, 1), 1),
}


def scaled(c, width):
    """Channels of a conv layer: max(1, round(c * width)), halves away from
    zero (C's lround, not Python's round-half-even)."""
    return max(1, int(math.floor(c * width + 0.5)))


def _check(name, value, choices):
    if value not in choices:
        raise ValueError("%s must be one of %s (got %r)" % (name, ", ".join(choices), value))


def _act(kind):
    _check("activation", kind, ACTIVATIONS)
    return nn.Tanh() if kind == "tanh" else nn.ReLU()


class ChannelLayerNorm(nn.Module):
    """sinkrb's layernorm in conv nets: normalise over the channels at each
    pixel (biased variance, eps 1e-5), then a per-channel affine; over the
    features for 2-D input. Parameters weight and bias, shape (C,)."""

    def __init__(self, num_channels, eps=EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        mu = x.mean(dim=1, keepdim=True)
        var = ((x - mu) ** 2).mean(dim=1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return y * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self):
        return "%d, eps=%g" % (self.weight.numel(), self.eps)


class MaybeMaxPool2d(nn.MaxPool2d):
    """2x2 max pool that passes a map smaller than 2x2 through unchanged (as
    sinkrb does; with 32x32 inputs VGG never meets one)."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x):
        if x.shape[2] < 2 or x.shape[3] < 2:
            return x
        return super().forward(x)


def conv_norm(kind, c):
    """The norm module of a conv net over c channels, or None for "none"."""
    _check("norm", kind, NORMS)
    if kind == "batchnorm":
        return nn.BatchNorm2d(c, eps=EPS)
    if kind == "layernorm":
        return ChannelLayerNorm(c)
    return None


class _Sinkrb:
    """The model section of a sinkrb config that builds this module."""

    def _set_arch(self, arch, hidden=(512, 512, 512), activation="relu", norm="none", width=1.0,
                  head="gitrebasin", dropout=0.0):
        self.sinkrb_arch = dict(arch=arch, hidden=[int(h) for h in hidden], activation=activation, norm=norm,
                                width=float(width), head=head, dropout=float(dropout))


class MLP(nn.Module, _Sinkrb):
    """model.arch: mlp. Input (N, ...) is flattened to n_in features."""

    def __init__(self, n_in=784, hidden=(512, 512, 512), n_out=10, activation="relu", norm="none", dropout=0.0):
        super().__init__()
        _check("norm", norm, NORMS)
        hidden = [int(h) for h in hidden]
        if not 0.0 <= dropout < 1.0:
            raise ValueError("dropout must be in [0, 1) (got %r)" % dropout)
        dims = [int(n_in)] + hidden + [int(n_out)]
        self.layers = nn.ModuleList([nn.Linear(dims[i], dims[i + 1]) for i in range(len(dims) - 1)])
        if norm == "batchnorm":
            self.norms = nn.ModuleList([nn.BatchNorm1d(h, eps=EPS) for h in hidden])
        elif norm == "layernorm":
            self.norms = nn.ModuleList([nn.LayerNorm(h, eps=EPS) for h in hidden])
        else:
            self.norms = None
        self.act = _act(activation)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None
        self._set_arch("mlp", hidden=hidden, activation=activation, norm=norm, dropout=dropout)

    def forward(self, x):
        x = x.flatten(1)
        last = len(self.layers) - 1
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i == last:
                break
            if self.norms is not None:
                x = self.norms[i](x)
            x = self.act(x)
            if self.drop is not None:
                x = self.drop(x)
        return x


class VGG(nn.Module, _Sinkrb):
    """model.arch: vgg11 | vgg13 | vgg16 | vgg19 (sinkrb's config needs 32x32
    inputs; other sizes build as sinkrb's library builds them)."""

    def __init__(self, arch="vgg11", width=1.0, norm="none", head="gitrebasin", activation="relu",
                 in_shape=(3, 32, 32), n_out=10):
        super().__init__()
        _check("arch", arch, tuple(VGG_LAYERS))
        _check("head", head, HEADS)
        if not width > 0:
            raise ValueError("width must be > 0 (got %r)" % width)
        layers, c, h, w = [], in_shape[0], in_shape[1], in_shape[2]
        for v in VGG_LAYERS[arch]:
            if v == "M":
                layers.append(MaybeMaxPool2d())
                if h >= 2 and w >= 2:
                    h, w = h // 2, w // 2
                continue
            o = scaled(v, width)
            layers.append(nn.Conv2d(c, o, 3, padding=1))
            nm = conv_norm(norm, o)
            if nm is not None:
                layers.append(nm)
            layers.append(_act(activation))
            c = o
        self.features = nn.Sequential(*layers)
        flat = c * h * w
        if head == "linear":
            self.classifier = nn.Linear(flat, n_out)
        else:
            hid = scaled(512, width)
            self.classifier = nn.Sequential(nn.Linear(flat, hid), _act(activation), nn.Linear(hid, hid),
                                            _act(activation), nn.Linear(hid, n_out))
        self._set_arch(arch, activation=activation, norm=norm, width=width, head=head)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class BasicBlock(nn.Module):
    """act(norm2(conv2(act(norm1(conv1(x))))) + shortcut(x)); the shortcut is a
    3x3 conv (stride 2) and a norm when stride or width change, else identity."""

    def __init__(self, cin, cout, stride, norm, activation="relu"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = conv_norm(norm, cout) or nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = conv_norm(norm, cout) or nn.Identity()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            mods = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False)]
            nm = conv_norm(norm, cout)
            if nm is not None:
                mods.append(nm)
            self.shortcut = nn.Sequential(*mods)
        self.act = _act(activation)

    def forward(self, x):
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + self.shortcut(x))


class ResNet20(nn.Module, _Sinkrb):
    """model.arch: resnet20 (sinkrb's config needs norm batchnorm or
    layernorm; the library also builds norm none, as here). Global average
    pooling before fc."""

    def __init__(self, width=1.0, norm="batchnorm", activation="relu", in_c=3, n_out=10):
        super().__init__()
        if not width > 0:
            raise ValueError("width must be > 0 (got %r)" % width)
        w0 = scaled(16, width)
        self.conv1 = nn.Conv2d(in_c, w0, 3, 1, 1, bias=False)
        self.bn1 = conv_norm(norm, w0) or nn.Identity()
        self.act = _act(activation)
        cin = w0
        for s in range(1, 4):
            cout = scaled(16 << (s - 1), width)
            blocks = []
            for b in range(3):
                stride = 2 if (s > 1 and b == 0) else 1
                blocks.append(BasicBlock(cin, cout, stride, norm, activation))
                cin = cout
            setattr(self, "layer%d" % s, nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, n_out)
        self._set_arch("resnet20", activation=activation, norm=norm, width=width)

    def forward(self, x):
        x = self.act(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def build(arch="mlp", hidden=(512, 512, 512), activation="relu", norm="none", width=1.0, head="gitrebasin",
          dropout=0.0, in_shape=None, n_out=None, dataset="mnist"):
    """The module sinkrb builds for a config's model section (keyword names
    and defaults are the model.* keys') on dataset.name `dataset`, unless
    in_shape (C, H, W) and n_out are given."""
    _check("arch", arch, ARCHS)
    ds_shape, ds_out = DATASETS[dataset]
    in_shape = tuple(in_shape) if in_shape is not None else ds_shape
    n_out = n_out if n_out is not None else ds_out
    if arch == "mlp":
        return MLP(int(np.prod(in_shape)), hidden, n_out, activation, norm, dropout)
    if arch == "resnet20":
        return ResNet20(width, norm, activation, in_shape[0], n_out)
    return VGG(arch, width, norm, head, activation, in_shape, n_out)


def _yaml_number(v):
    v = float(v)
    if v == math.floor(v) and abs(v) < 1e15:
        return "%.0f" % v
    return repr(v)


def arch_yaml_of(model):
    """The model section as sinkrb writes it in a weights file's arch
    attribute, for a module of this file; None for any other module."""
    a = getattr(model, "sinkrb_arch", None)
    if a is None:
        return None
    return ("arch: %s\nhidden: [%s]\nactivation: %s\nnorm: %s\nwidth: %s\nhead: %s\ndropout: %s\n" %
            (a["arch"], ", ".join(str(h) for h in a["hidden"]), a["activation"], a["norm"],
             _yaml_number(a["width"]), a["head"], _yaml_number(a["dropout"])))


def _is_nbt(name):
    return name.endswith("num_batches_tracked")


def save_h5(model, path, arch_yaml=None):
    """Write model's state_dict (or a state_dict) as a sinkrb weights file:
    one float32 dataset per key at the root (num_batches_tracked left out),
    root attributes format, format_version, param_order and arch. arch_yaml
    None = the module's own model section when it is one of this file's
    (see arch_yaml_of()), else no arch attribute. Written to a temporary file in
    the same folder and renamed into place."""
    sd = model.state_dict() if isinstance(model, nn.Module) else model
    if arch_yaml is None and isinstance(model, nn.Module):
        arch_yaml = arch_yaml_of(model)
    names = [k for k in sd if not _is_nbt(k)]
    for k in names:
        if not k or "/" in k or "\n" in k:
            raise ValueError("%s: tensor name %r is not allowed (empty, '/' or newline)" % (path, k))
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = np.int64(FORMAT_VERSION)
            f.attrs["param_order"] = "\n".join(names)
            if arch_yaml:
                f.attrs["arch"] = arch_yaml
            for k in names:
                f.create_dataset(k, data=sd[k].detach().cpu().numpy().astype("<f4"))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def read_h5(path):
    """The tensors of a weights file as an ordered dict name -> float32 numpy
    array (param_order first, other root datasets in name order; groups and
    integer num_batches_tracked skipped), and its arch text or None."""
    with h5py.File(path, "r") as f:
        fmt = f.attrs.get("format")
        if fmt is not None and _text(fmt) != FORMAT:
            raise ValueError("%s: this is a '%s' file, expected '%s'" % (path, _text(fmt), FORMAT))
        ver = f.attrs.get("format_version")
        if ver is not None and int(ver) > FORMAT_VERSION:
            raise ValueError("%s: format_version %d is newer than this reader (%d)" % (path, int(ver), FORMAT_VERSION))
        root = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        root = [k for k in root if not (_is_nbt(k) and f[k].dtype.kind in "iu")]
        order = f.attrs.get("param_order")
        if order is None:
            listed = []
        elif isinstance(order, (str, bytes)):
            listed = _text(order).split("\n") if _text(order) else []
        else:
            listed = [_text(s) for s in order]
        listed = [k for k in listed if k in root]
        names = listed + sorted(k for k in root if k not in set(listed))
        out = {k: np.asarray(f[k][()], dtype=np.float32) for k in names}
        arch = f.attrs.get("arch")
        return out, (_text(arch) if arch is not None else None)


def load_h5(model, path):
    """Load a sinkrb weights file (or a plain h5py dump of a state_dict) into
    model: every state_dict entry but num_batches_tracked must be in the file
    with the same shape and the file must have nothing else, else ValueError
    listing the differences. Returns model."""
    tensors, arch = read_h5(path)
    sd = model.state_dict()
    want = [k for k in sd if not _is_nbt(k)]
    missing = [k for k in want if k not in tensors]
    extra = [k for k in tensors if k not in sd]
    shape = ["%s expected %s, file has %s" % (k, tuple(sd[k].shape), tensors[k].shape)
             for k in want if k in tensors and tuple(sd[k].shape) != tensors[k].shape]
    if missing or extra or shape:
        msg = ["%s does not fit the model:" % path]
        msg += ["  missing: %s %s" % (k, tuple(sd[k].shape)) for k in missing]
        msg += ["  shape:   %s" % s for s in shape]
        msg += ["  extra:   %s %s" % (k, tensors[k].shape) for k in extra]
        if arch:
            msg += ["  the file was written for:"] + ["    " + line for line in arch.strip().split("\n")]
        raise ValueError("\n".join(msg))
    with torch.no_grad():
        for k in want:
            sd[k].copy_(torch.from_numpy(tensors[k]).to(sd[k].dtype))
    return model
