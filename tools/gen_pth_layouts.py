#!/usr/bin/env python3
"""Fixture for reading `torch.save` files: tensors stored the ways PyTorch stores them, by PyTorch.

    /work/venv/bin/python tools/gen_pth_layouts.py    # -> tests/fixtures/pth_layouts/ (a few KB)

Writes the same tensors twice:
  * bare.pth: a plain `torch.save(dict)` (no mmengine 'state_dict' nesting) whose tensors are a
    contiguous f32 tensor, a transposed (Fortran-ordered) f32 matrix and 4-D tensor, views that
    start inside a larger storage, two views of one storage, and f16 / f64 / int64 tensors;
  * expected.safetensors: each of them made contiguous, written by the safetensors library,
    as the independent truth the reader is compared with.
"""
import pathlib

import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pth_layouts"


def main():
    torch.manual_seed(0)
    big = torch.randn(40)
    base4 = torch.randn(2, 3, 4, 5)
    tensors = {
        "plain": torch.randn(3, 4),
        "transposed": torch.randn(4, 3).t(),
        "permuted_4d": base4.permute(3, 2, 1, 0),
        "offset_row": big.view(8, 5)[2],
        "offset_block": big.view(8, 5)[3:7],
        "shares_storage": big.view(8, 5)[0:2],
        "half": torch.randn(6).half(),
        "double": torch.randn(2, 2).double(),
        "long": torch.arange(5),
    }
    assert tensors["transposed"].is_contiguous() is False
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, OUT / "bare.pth")
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / "expected.safetensors")
    for k, v in tensors.items():
        print(f"{k}: shape {tuple(v.shape)} stride {v.stride()} offset {v.storage_offset()} {v.dtype}")


if __name__ == "__main__":
    main()
