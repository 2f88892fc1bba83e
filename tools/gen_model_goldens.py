#!/usr/bin/env python3
"""Model parity goldens, produced by mmaction2 1.2.0 itself (run by hand with /work/venv, never in CI).

    /work/venv/bin/python tools/gen_model_goldens.py             # small fixtures -> tests/fixtures/models
    /work/venv/bin/python tools/gen_model_goldens.py --full DIR  # full-width models -> DIR (not committed)

Each case builds a recogniser with `MODELS.build` from the real model-zoo config in the mmaction2
wheel, with reduced widths/depths/classes so the fixtures stay small, and:
  * gives it random weights, BatchNorm statistics calibrated on random clips (then perturbed) so
    activations keep a sane scale through 50 layers, and a classifier scaled so the softmax is far
    from uniform;
  * saves the checkpoint the way mmengine does: torch.save of {'meta': ..., 'state_dict': ...} (zip);
  * records input, logits, pooled features (the fc_cls input) and mmaction2's own `average_clip`
    results ('prob' and 'score') in <name>.golden.safetensors.
Weights and inputs are rounded to float16-representable values (but run and saved as float32) so
the input can be stored as f16 without changing the reference result.

The 2-D ResNet of TSN hard-codes a width of 64; for the small fixtures its class source is loaded
with that literal replaced (everything else is mmaction2's code). The --full run uses it unpatched.
"""
import argparse
import datetime
import pathlib
import re
import sys
import time

import torch
import mmengine
from mmengine.config import Config
from mmengine.runner.checkpoint import save_checkpoint
from safetensors.torch import save_file

import mmaction
from mmaction.registry import MODELS
from mmaction.utils import register_all_modules

register_all_modules()
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False

CONFIGS = pathlib.Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"
REPO = pathlib.Path(__file__).resolve().parent.parent


def narrow_resnet2d(width):
    """mmaction2's 2-D ResNet with its hard-coded stem width 64 replaced by `width`."""
    name = f"ResNetW{width}"
    if name in MODELS.module_dict:
        return name
    src = pathlib.Path(mmaction.models.backbones.resnet.__file__).read_text()
    head, body = src.split("class ResNet(BaseModule):", 1)
    body = re.sub(r"\b64\b", str(width), body)
    code = head + f"class {name}(BaseModule):" + body
    module = type(sys)(f"vidclass_{name}")
    module.__dict__["__name__"] = module.__name__
    exec(compile(code, f"<mmaction resnet.py, width {width}>", "exec"), module.__dict__)
    return name


def config(rel):
    cfg = Config.fromfile(str(CONFIGS / rel))
    return cfg


def f16_exact(t):
    return t.half().float()


def randomise(model, inputs, calib_side=None, classes_scale=2.0):
    """Random conv weights, calibrated-then-perturbed BN stats, a peaky classifier."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:  # conv / linear weights: He-style scale
                fan_in = p[0].numel()
                p.copy_(f16_exact(torch.randn(p.shape, generator=g) * (2.0 / fan_in) ** 0.5))
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(f16_exact(torch.rand(m.weight.shape, generator=g) + 0.5))
                m.bias.copy_(f16_exact(torch.randn(m.bias.shape, generator=g) * 0.2))
                m.momentum = None  # cumulative average: one pass sets the batch statistics
                m.reset_running_stats()
        # Calibrate on more views than the golden input: deep stages of these tiny clips have only a
        # handful of positions per channel, too few for meaningful statistics.
        calib_shape = list(inputs.shape)
        calib_shape[1] = 8 if calib_side is None else 2
        if calib_side is not None:  # full-width models: calibrate at a lower resolution, for speed
            calib_shape[-2:] = [calib_side, calib_side]
        calib = torch.randn(calib_shape, generator=g)
        model.train()
        model.extract_feat(calib, stage="head")
        model.eval()
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.1 * m.running_var.sqrt())
                m.running_var.mul_(torch.rand(m.running_var.shape, generator=g) * 0.6 + 0.7)
                # A channel that is (nearly) constant over the tiny calibration batch (dead after
                # ReLU, 1x1 maps) would otherwise be amplified by 1/sqrt(eps) in eval mode.
                m.running_var.clamp_(min=0.05 * float(m.running_var.median()) + 1e-3)
                m.running_mean.copy_(f16_exact(m.running_mean))
                m.running_var.copy_(f16_exact(m.running_var))
        feats = run(model, inputs)[1]
        fc = model.cls_head.fc_cls
        std = feats.std().clamp_min(1e-6)
        fc.weight.copy_(f16_exact(torch.randn(fc.weight.shape, generator=g) * classes_scale / (std * fc.in_features**0.5)))
        fc.bias.copy_(f16_exact(torch.randn(fc.bias.shape, generator=g) * 0.5))


def run(model, inputs):
    """Logits and the features fc_cls reads, through mmaction2's own forward."""
    seen = {}
    hook = model.cls_head.fc_cls.register_forward_hook(lambda m, i, o: seen.__setitem__("x", i[0]))
    with torch.no_grad():
        logits, _ = model.extract_feat(inputs, stage="head")
    hook.remove()
    return logits, seen["x"]


def case_config(cfg_rel, backbone=None, head=None, tsn_width=None):
    """The zoo config `cfg_rel` with a case's edits: no pretrained weights, the narrowed widths."""
    cfg = config(cfg_rel)
    model_cfg = cfg.model
    model_cfg.backbone.pretrained = None
    if "pretrained2d" in model_cfg.backbone:
        model_cfg.backbone.pretrained2d = False
    if tsn_width is not None:
        model_cfg.backbone.type = narrow_resnet2d(tsn_width) if tsn_width != 64 else "ResNet"
    for k, v in (backbone or {}).items():
        if isinstance(v, dict):
            model_cfg.backbone[k].update(v)
        else:
            model_cfg.backbone[k] = v
    for k, v in (head or {}).items():
        model_cfg.cls_head[k] = v
    return cfg


def build_case(name, cfg_rel, input_shape, backbone=None, head=None, tsn_width=None, seed=0):
    cfg = case_config(cfg_rel, backbone, head, tsn_width)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.manual_seed(seed)
    inputs = f16_exact(torch.randn(input_shape))
    randomise(model, inputs, calib_side=112 if min(input_shape[-2:]) > 112 else None)
    logits, feats = run(model, inputs)
    num_segs = input_shape[1]
    # TSN's head has already averaged the segments: one row per video.
    segs = 1 if logits.shape[0] == 1 else num_segs
    averaged = {}
    for how in ("prob", "score"):
        model.cls_head.average_clips = how
        averaged[how] = model.cls_head.average_clip(logits, segs)[0]
    return cfg, model, inputs, logits, feats, averaged


def save_case(dest, name, cfg, model, inputs, logits, feats, averaged):
    dest.mkdir(parents=True, exist_ok=True)
    meta = dict(
        epoch=1,
        iter=1,
        cfg=cfg.pretty_text,
        seed=0,
        experiment_name=name,
        time=datetime.datetime.now().strftime("%Y%m%d_%H%M%S"),
        mmengine_version=mmengine.__version__,
        dataset_meta={},
    )
    save_checkpoint({"meta": meta, "state_dict": model.state_dict()}, str(dest / f"{name}.pth"))
    x = inputs[0]  # drop the batch dim: [V, C, (T,) H, W]
    golden = {
        "input": x.half().contiguous(),
        "logits": logits.contiguous(),
        "features": feats.contiguous(),
        "prob": averaged["prob"].contiguous(),
        "score": averaged["score"].contiguous(),
    }
    save_file(golden, str(dest / f"{name}.golden.safetensors"))
    sizes = sum((dest / f).stat().st_size for f in (f"{name}.pth", f"{name}.golden.safetensors"))
    print(f"{name}: logits {tuple(logits.shape)} max|logit| {logits.abs().max():.3f} "
          f"top prob {averaged['prob'].max():.3f}  {sizes / 1e3:.0f} kB", flush=True)


SF = "slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py"
SF88 = "slowfast/slowfast_r50_8xb8-8x8x1-steplr-256e_kinetics400-rgb.py"  # lateral_norm=True
I3D = "i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py"
SO = "slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py"
TSN = "tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py"
K = 7  # classes in the small fixtures


def small_cases():
    w = 4  # base width of the small 3-D networks
    # SlowFast: slow width 2, channel ratio (beta_inv) 2 -> fast width 1.
    sf_slow = dict(base_channels=2, stage_blocks=(1, 2, 1, 1))
    sf_slow_norm = dict(sf_slow, lateral_norm=True)  # the config sets it; kept explicit here
    sf_fast = dict(base_channels=1, stage_blocks=(1, 2, 1, 1))
    sf_head = dict(num_classes=K, in_channels=2 * 32 + 32)
    return [
        # name, config, input [B, V, C, (T,) H, W], backbone overrides, head overrides, tsn width
        ("tsn_r50", TSN, (1, 3, 3, 40, 40), dict(depth=50), dict(num_classes=K, in_channels=2048 // 32), 2),
        ("tsn_r18", TSN, (1, 2, 3, 36, 44), dict(depth=18), dict(num_classes=K, in_channels=512 // 16), 4),
        ("i3d_r50", I3D, (1, 2, 3, 8, 32, 32), dict(base_channels=w), dict(num_classes=K, in_channels=w * 32), None),
        ("resnet3d_r50_3x3x3", I3D, (1, 1, 3, 8, 36, 36),
         dict(base_channels=w, stage_blocks=(2, 1, 2, 1), inflate=((1, 0), 1, (0, 1), 1), inflate_style="3x3x3",
              conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1),
         dict(num_classes=K, in_channels=w * 32), None),
        ("resnet3d_r18", I3D, (1, 1, 3, 8, 36, 36),
         dict(depth=18, base_channels=w, stage_blocks=(2, 1, 2, 1), inflate=((1, 0), 0, (0, 1), 1), conv1_kernel=(3, 7, 7),
              conv1_stride_t=1, pool1_stride_t=2),
         dict(num_classes=K, in_channels=w * 8), None),
        ("slowonly_r50", SO, (1, 2, 3, 4, 32, 32), dict(base_channels=w, stage_blocks=(1, 2, 2, 1)), dict(num_classes=K, in_channels=w * 32), None),
        ("slowfast_r50_4x16", SF, (1, 1, 3, 16, 32, 32),
         dict(channel_ratio=2, slow_pathway=sf_slow, fast_pathway=sf_fast), sf_head, None),
        ("slowfast_r50_8x8_steplr", SF88, (1, 1, 3, 16, 32, 32),
         dict(channel_ratio=2, slow_pathway=sf_slow_norm, fast_pathway=sf_fast), sf_head, None),
    ]


def full_cases():
    return [
        ("full_slowfast_r50_4x16", SF, (1, 1, 3, 32, 224, 224), None, None, None),
        ("full_i3d_r50", I3D, (1, 1, 3, 32, 224, 224), None, None, None),
        ("full_tsn_r50", TSN, (1, 3, 3, 224, 224), None, None, 64),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", type=pathlib.Path, help="write full-width models and goldens to this directory")
    ap.add_argument("--only", help="run only the case with this name")
    args = ap.parse_args()
    dest = args.full or REPO / "tests" / "fixtures" / "models"
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name, cfg_rel, shape, backbone, head, tsn_width in (full_cases() if args.full else small_cases()):
        if args.only and name != args.only:
            continue
        t0 = time.time()
        case = build_case(name, cfg_rel, shape, backbone, head, tsn_width)
        save_case(dest, name, *case)
        print(f"  ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
