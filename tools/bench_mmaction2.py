#!/usr/bin/env python3
"""mmaction2 1.2.0's side of the speed comparison: the same video, weights and views as
`cargo bench --bench model`, timed stage by stage, one model and protocol per process.

    /work/venv/bin/python tools/bench_mmaction2.py VIDEO CONFIG WEIGHTS.pth {fast,full} [--threads 2] [--device cuda]

CONFIG is a model card's `config` (e.g. slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb), looked up in
the mmaction2 wheel. `full` is the config's test_pipeline (the published protocol), `fast` its
val_pipeline (one clip, centre crop), exactly what the model cards call views.full / views.fast.
The pipeline runs as `inference_recognizer` runs it (decord decode, mmcv resize and crops, one batch
of all views); the timings split it into:
  * decode      DecordInit + SampleFrames + DecordDecode
  * preprocess  the remaining transforms, collation and the data preprocessor (normalisation)
  * backbone / head   forward hooks on model.backbone and model.cls_head (+ view averaging)
GFLOP/s are direct-convolution (and fc) FLOPs, 2 per multiply-add, counted by forward hooks, over
the model time and over the whole per-video time. Peak RSS is the process's VmHWM, which includes
importing torch and mmaction2 (that is what a user's process holds too).
On a GPU (`--device cuda`) the video runs once untimed first (CUDA context, cuDNN's algorithm
search), every timer synchronises the device, and the timed run is the second: the per-video time of
a long batch, the number a GPU user cares about. The warm-up's total is printed as `warmup_s`.
Prints one `key=value` line per run, the format the Rust bench prints.
"""
import argparse
import pathlib
import time

T_START = time.perf_counter()

import torch  # noqa: E402
from mmengine.dataset import Compose, pseudo_collate  # noqa: E402

import mmaction  # noqa: E402
from mmaction.apis import init_recognizer  # noqa: E402

CONFIGS = pathlib.Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"
DECODE = {"DecordInit", "SampleFrames", "DecordDecode"}


def find_config(name):
    hits = list(CONFIGS.glob(f"*/{name}.py"))
    if len(hits) != 1:
        raise SystemExit(f"config {name!r}: found {hits}")
    return str(hits[0])


def vm_hwm_mb():
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def now(device):
    """The wall clock, after the device has finished what was queued (GPU work runs asynchronously)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


class Timer:
    """Forward pre/post hooks that add a module's wall time to `total`."""

    def __init__(self, module, device):
        self.total = 0.0
        self.device = device
        self.hooks = [module.register_forward_pre_hook(self.pre), module.register_forward_hook(self.post)]

    def remove(self):
        for hook in self.hooks:
            hook.remove()

    def pre(self, *_):
        self.t0 = now(self.device)

    def post(self, *_):
        self.total += now(self.device) - self.t0


def count_macs(model):
    """Multiply-adds of every Conv and Linear layer in the next forward (a list to read after)."""
    macs = [0]

    def hook(m, _inp, out):
        if isinstance(m, torch.nn.Linear):
            macs[0] += out.numel() * m.in_features
        else:
            k = 1
            for s in m.kernel_size:
                k *= s
            macs[0] += out.numel() * (m.in_channels // m.groups) * k

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    return macs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video")
    ap.add_argument("config")
    ap.add_argument("weights")
    ap.add_argument("protocol", choices=["fast", "full"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for the first GPU")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    model = init_recognizer(find_config(args.config), args.weights, device=args.device)
    load_s = now(args.device) - t0
    startup_s = t0 - T_START
    cfg = model.cfg
    pipeline_cfg = cfg.test_pipeline if args.protocol == "full" else cfg.val_pipeline
    steps = Compose(pipeline_cfg).transforms
    macs = count_macs(model)
    warmup_s = 0.0
    if args.device != "cpu":
        warmup_s = run_video(args, model, steps, macs)["total_s"]
        macs[0] = 0
    r = run_video(args, model, steps, macs)
    flops = 2 * macs[0]
    print(
        f"tool=mmaction2 config={args.config} protocol={args.protocol} device={args.device} "
        f"threads={args.threads} views={r['views']} startup_s={startup_s:.3f} load_s={load_s:.3f} "
        f"warmup_s={warmup_s:.3f} decode_s={r['decode_s']:.3f} preprocess_s={r['preprocess_s']:.3f} "
        f"backbone_s={r['backbone_s']:.3f} head_s={r['head_s']:.3f} total_s={r['total_s']:.3f} "
        f"gflop={flops / 1e9:.1f} model_gflops={flops / 1e9 / max(r['model_s'], 1e-9):.1f} "
        f"e2e_gflops={flops / 1e9 / r['total_s']:.1f} peak_rss_mb={vm_hwm_mb():.0f} top1={r['top1']}",
        flush=True,
    )


def run_video(args, model, steps, macs):
    """One video through the test pipeline and the model, timed stage by stage."""
    backbone, head = Timer(model.backbone, args.device), Timer(model.cls_head, args.device)
    t_video = now(args.device)
    data = dict(filename=args.video, label=-1, start_index=0, modality="RGB")
    decode_s = pre_s = 0.0
    for step in steps:
        t = time.perf_counter()
        data = step(data)
        dt = time.perf_counter() - t
        if type(step).__name__ in DECODE:
            decode_s += dt
        else:
            pre_s += dt
    batch = pseudo_collate([data])
    with torch.no_grad():
        t = now(args.device)
        batch = model.data_preprocessor(batch, False)
        pre_s += now(args.device) - t
        views = batch["inputs"].shape[1]
        t = now(args.device)
        result = model(**batch, mode="predict")[0]
        predict_s = now(args.device) - t
    total_s = now(args.device) - t_video
    model_s = backbone.total + head.total
    backbone.remove()
    head.remove()
    return dict(
        views=views,
        decode_s=decode_s,
        preprocess_s=pre_s,
        backbone_s=backbone.total,
        # view averaging and result packing count as head
        head_s=head.total + (predict_s - model_s),
        model_s=model_s,
        total_s=total_s,
        top1=int(result.pred_score.argmax()),
    )


if __name__ == "__main__":
    main()
