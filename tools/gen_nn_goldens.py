#!/usr/bin/env python3
"""Golden data for the 3-D network ops in src/nn, computed by PyTorch itself.

Run by hand with the reference venv (never in CI):

    /work/venv/bin/python tools/gen_nn_goldens.py

Writes tests/fixtures/nn_ops.safetensors. Tensors are in PyTorch's NCTHW layout; each case stores
its geometry as an int64 tensor `<case>.geom` = [kernel(3), stride(3), padding(3), dilation(3)].
Odd shapes on purpose: unequal per-axis strides/paddings/dilations, kernels wider than tall,
lengths that leave a remainder, negative inputs for the -inf pooling pad.
"""
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
torch.backends.cudnn.allow_tf32 = False
out = {}


def put(name, t):
    out[name] = t.detach().contiguous().clone()


def geom(kernel, stride, padding, dilation):
    return torch.tensor([*kernel, *stride, *padding, *dilation], dtype=torch.int64)


CONVS = [
    # (N, C, T, H, W), O, kernel, stride, padding, dilation, bias
    ((2, 5, 7, 9, 11), 6, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), False),  # pure matmul
    ((1, 4, 6, 9, 10), 3, (1, 1, 1), (2, 2, 3), (0, 0, 0), (1, 1, 1), True),  # strided 1x1x1
    ((2, 3, 9, 13, 12), 5, (5, 7, 7), (2, 2, 2), (2, 3, 3), (1, 1, 1), False),  # I3D stem
    ((1, 4, 8, 7, 9), 6, (3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), False),  # 3x1x1 inflate
    ((1, 3, 32, 5, 6), 4, (5, 1, 1), (8, 1, 1), (2, 0, 0), (1, 1, 1), False),  # SlowFast lateral
    ((2, 4, 5, 9, 9), 5, (3, 3, 3), (1, 2, 2), (1, 1, 1), (1, 1, 1), True),  # 3x3x3 inflate
    ((1, 3, 7, 10, 11), 4, (2, 3, 5), (2, 1, 1), (1, 1, 2), (2, 1, 1), True),  # pad h != pad w
    ((1, 3, 6, 11, 13), 4, (2, 3, 2), (1, 2, 3), (0, 2, 1), (1, 2, 1), False),  # general im2col
]
for i, (shape, o, k, s, p, d, bias) in enumerate(CONVS):
    x = torch.randn(shape)
    w = torch.randn(o, shape[1], *k) / (shape[1] * k[0] * k[1] * k[2]) ** 0.5
    b = torch.randn(o) if bias else None
    y = F.conv3d(x, w, b, stride=s, padding=p, dilation=d)
    put(f"conv{i}.x", x)
    put(f"conv{i}.w", w)
    if b is not None:
        put(f"conv{i}.b", b)
    put(f"conv{i}.y", y)
    put(f"conv{i}.geom", geom(k, s, p, d))

POOLS = [
    ((2, 3, 6, 9, 10), (1, 3, 3), (1, 2, 2), (0, 1, 1)),  # ResNet stem pool
    ((1, 4, 9, 7, 8), (1, 3, 3), (2, 2, 2), (0, 1, 1)),  # I3D pool1 (temporal stride 2)
    ((2, 3, 9, 5, 4), (2, 1, 1), (2, 1, 1), (0, 0, 0)),  # I3D pool2 (odd T: floor)
    ((1, 2, 7, 8, 9), (3, 2, 3), (2, 1, 3), (1, 1, 1)),  # odd everything
]
for i, (shape, k, s, p) in enumerate(POOLS):
    x = torch.randn(shape) - 1.0  # mostly negative: zero padding would win, -inf must not
    put(f"pool{i}.x", x)
    put(f"pool{i}.y", F.max_pool3d(x, k, s, p))
    put(f"pool{i}.geom", geom(k, s, p, (1, 1, 1)))

x = torch.randn(3, 7, 5, 6, 4)
put("gap.x", x)
put("gap.y", F.adaptive_avg_pool3d(x, 1).flatten(1))

for i, (t, tau) in enumerate([(32, 8), (32, 4), (10, 3), (7, 2), (5, 1)]):
    x = torch.randn(1, 2, t, 3, 3)
    put(f"nearest{i}.x", x)
    put(f"nearest{i}.y", F.interpolate(x, mode="nearest", scale_factor=(1.0 / tau, 1.0, 1.0)))
    put(f"nearest{i}.tau", torch.tensor([tau], dtype=torch.int64))

# Conv3d + BatchNorm3d (eval, non-trivial running stats) vs the folded convolution.
conv = torch.nn.Conv3d(4, 6, (3, 3, 3), padding=1, bias=False)
bn = torch.nn.BatchNorm3d(6).eval()
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.normal_()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.2, 2.0)
x = torch.randn(2, 4, 5, 7, 6)
put("bn.x", x)
put("bn.w", conv.weight)
for name in ["weight", "bias", "running_mean", "running_var"]:
    put(f"bn.{name}", getattr(bn, name))
with torch.no_grad():
    put("bn.y", bn(conv(x)))

dest = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "nn_ops.safetensors"
dest.parent.mkdir(parents=True, exist_ok=True)
save_file(out, str(dest))
print(f"wrote {dest} ({dest.stat().st_size} bytes, {len(out)} tensors)")
