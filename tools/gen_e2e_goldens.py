#!/usr/bin/env python3
"""End-to-end inference goldens, produced by mmaction2 1.2.0 itself (run by hand, never in CI).

    cd /work/main && /work/venv/bin/python tools/gen_e2e_goldens.py

Writes
  * tests/fixtures/e2e/goldens.json -- a JSON list, one entry per case: clip, checkpoint,
    architecture, the test pipeline settings, how the views were averaged, mmaction2's `pred_score` (the averaged class
    scores), the top-1 index, and per-view logits for debugging (3-D: the `fc_cls` output rows;
    TSN: `fc_cls` applied to each segment's pooled features, plus the consensus logits);
  * tests/fixtures/e2e/labels7.txt  -- 7 made-up class names (one with a comma, one with a double
    quote) for CSV-output tests.

Each case rebuilds the SAME reduced-width recogniser that tools/gen_model_goldens.py built (its
`small_cases()` table, `config()` and `narrow_resnet2d()` are imported; the config edits of its
`build_case()` are repeated here without the weight randomisation), loads the
committed checkpoint from tests/fixtures/models/ with mmaction2's `init_recognizer`, checks that
the rebuilt model reproduces that checkpoint's own golden logits, then runs
`mmaction.apis.inference_recognizer(model, video_path)` with `cfg.test_pipeline` set to the zoo
config's test pipeline with smaller sizes:
    DecordInit -> SampleFrames(test_mode=True) -> DecordDecode -> Resize(scale=(-1, S))
    -> ThreeCrop / CenterCrop / TenCrop -> FormatShape -> PackActionInputs
(`inference_recognizer` itself sets start_index=0). The heads keep the zoo's average_clips='prob'.

Needs the venv with mmaction2 1.2.0, mmcv, mmengine, decord, torch, safetensors. CPU only;
deterministic up to float32 rounding of the CPU convolution kernels. Nothing in the Rust build or
tests runs this script; its output is committed.
"""
import importlib.util
import json
import pathlib
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from safetensors.torch import load_file

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "e2e"
MODELS_DIR = REPO / "tests" / "fixtures" / "models"

# tools/gen_model_goldens.py: the configs the committed checkpoints were built with.
_spec = importlib.util.spec_from_file_location("gen_model_goldens", REPO / "tools" / "gen_model_goldens.py")
gmg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gmg)

import mmaction  # noqa: E402
from mmaction.apis import inference_recognizer, init_recognizer  # noqa: E402

LABELS = [
    "juggling balls",
    "lifting, heavy",
    'saying "hi"',
    "riding a bike",
    "pouring tea",
    "high-fiving",
    "tying shoelaces",
]

CASES = [
    dict(id="slowfast_full", model="slowfast_r50_4x16", clip="clips/h264_342x258.mp4",
         sample=dict(clip_len=16, frame_interval=2, num_clips=3), resize_short_side=40,
         crop=dict(kind="three", size=40)),
    dict(id="slowfast_fast", model="slowfast_r50_4x16", clip="clips/h264_342x258.mp4",
         sample=dict(clip_len=16, frame_interval=2, num_clips=1), resize_short_side=40,
         crop=dict(kind="center", size=32)),
    dict(id="tsn", model="tsn_r50", clip="clips/vp9_171x96.webm",
         sample=dict(clip_len=1, frame_interval=1, num_clips=5), resize_short_side=40,
         crop=dict(kind="ten", size=32)),
]

CROP_TYPES = {"three": "ThreeCrop", "center": "CenterCrop", "ten": "TenCrop"}


def model_config(name):
    """The mmengine Config of the small fixture `name`, exactly as gen_model_goldens.build_case edits it."""
    (row,) = [c for c in gmg.small_cases() if c[0] == name]
    _, cfg_rel, input_shape, backbone, head, tsn_width = row
    return gmg.case_config(cfg_rel, backbone, head, tsn_width), cfg_rel, tsn_width


def test_pipeline(case, fmt):
    s = case["sample"]
    crop = case["crop"]
    crop_cfg = dict(type=CROP_TYPES[crop["kind"]], crop_size=crop["size"])
    return [
        dict(type="DecordInit", io_backend="disk"),
        dict(type="SampleFrames", clip_len=s["clip_len"], frame_interval=s["frame_interval"],
             num_clips=s["num_clips"], test_mode=True),
        dict(type="DecordDecode"),
        dict(type="Resize", scale=(-1, case["resize_short_side"])),
        crop_cfg,
        dict(type="FormatShape", input_format=fmt),
        dict(type="PackActionInputs"),
    ]


def architecture(cfg, cfg_rel, tsn_width):
    m = cfg.model
    b = m.backbone
    arch = dict(zoo_config=f"configs/recognition/{cfg_rel}", recognizer=m.type,
                head=dict(type=m.cls_head.type, num_classes=m.cls_head.num_classes,
                          in_channels=m.cls_head.in_channels, average_clips=m.cls_head.average_clips))
    if b.type == "ResNet3dSlowFast":
        keys = ("depth", "base_channels", "stage_blocks", "lateral", "lateral_norm", "conv1_kernel", "inflate")
        arch["backbone"] = dict(
            type=b.type, resample_rate=b.resample_rate, speed_ratio=b.speed_ratio, channel_ratio=b.channel_ratio,
            slow_pathway={k: b.slow_pathway[k] for k in keys if k in b.slow_pathway},
            fast_pathway={k: b.fast_pathway[k] for k in keys if k in b.fast_pathway})
    else:
        arch["backbone"] = dict(type="ResNet", depth=b.depth, base_width=tsn_width,
                                note=f"mmaction2 ResNet with its hard-coded width 64 replaced by {tsn_width} "
                                     f"(registered as {b.type} by gen_model_goldens.narrow_resnet2d)")
        arch["head"]["consensus"] = dict(m.cls_head.consensus)
    arch["data_preprocessor"] = dict(m.data_preprocessor)
    return json.loads(json.dumps(arch, default=list))


def check_against_model_golden(model, name):
    """The rebuilt model must reproduce gen_model_goldens' own logits for this checkpoint."""
    g = load_file(str(MODELS_DIR / f"{name}.golden.safetensors"))
    x = g["input"].float()[None]
    with torch.no_grad():
        logits, _ = model.extract_feat(x, stage="head")
    err = (logits - g["logits"]).abs().max().item()
    assert err < 1e-4, f"{name}: rebuilt model differs from its golden logits by {err}"
    return err


def crops_in_view_order(crop_bbox, n_frames, kind):
    """mmaction2 records one bbox per cropped frame; collapse them to one {bbox, flipped} per crop.

    TenCrop emits, for each of its 5 positions, the plain crops of all frames and then their
    horizontally flipped copies, so crop i is position i // 2, flipped iff i is odd."""
    b = np.asarray(crop_bbox).astype(int).reshape(-1, 4)
    if kind == "center":
        return [dict(bbox_xyxy=b[0].tolist(), flipped=False)]
    blocks = b.reshape(-1, n_frames, 4)
    assert (blocks == blocks[:, :1]).all()
    return [dict(bbox_xyxy=blk[0].tolist(), flipped=kind == "ten" and i % 2 == 1) for i, blk in enumerate(blocks)]


def run_case(case):
    cfg, cfg_rel, tsn_width = model_config(case["model"])
    fmt = cfg.model.data_preprocessor.format_shape
    cfg.test_pipeline = test_pipeline(case, fmt)
    ckpt = MODELS_DIR / f"{case['model']}.pth"
    model = init_recognizer(cfg, str(ckpt), device="cpu")
    # load_checkpoint is non-strict: insist that every key matched.
    sd = torch.load(str(ckpt), map_location="cpu", weights_only=False)["state_dict"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    golden_err = check_against_model_golden(model, case["model"])

    clip = REPO / "tests" / "fixtures" / "preprocess" / case["clip"]
    # Pipeline metadata (the same Compose minus packing) for the record.
    meta = Compose(cfg.test_pipeline[:4])(dict(filename=str(clip), label=-1, start_index=0, modality="RGB"))
    resized_hw = list(meta["img_shape"])
    meta = Compose(cfg.test_pipeline[4:-1])(meta)

    seen = {}
    head = model.cls_head
    hooks = [head.fc_cls.register_forward_hook(lambda m, i, o: seen.__setitem__("fc", o.detach().clone()))]
    if hasattr(head, "consensus"):
        hooks.append(head.consensus.register_forward_hook(
            lambda m, i, o: seen.__setitem__("segs", i[0].detach().clone())))
    result = inference_recognizer(model, str(clip))
    for h in hooks:
        h.remove()
    scores = result.pred_score.float()

    extra = {}
    if cfg.model.type == "Recognizer2D":
        # TSNHead: avg-pool each segment, AvgConsensus over the segments' pooled FEATURES, then fc_cls
        # (one row), then average_clips='prob' = softmax of that row. Per-segment logits are not
        # computed by mmaction2; they are fc_cls applied to each segment's pooled features (debug only).
        consensus_logits = seen["fc"]
        segs = seen["segs"].flatten(2)[0]  # [num_segs, C]
        with torch.no_grad():
            view_logits = head.fc_cls(segs)
        ref = consensus_logits[0].softmax(-1)
        assert torch.allclose(view_logits.mean(0), consensus_logits[0], atol=1e-5)
        extra["consensus_logits"] = [float(v) for v in consensus_logits[0]]
        averaging = ("TSN: spatial avg-pool per segment, AvgConsensus = mean of the pooled features over all "
                     "num_clips*num_crops segments (crop-major order, see view_logits_note), fc_cls on that "
                     "mean (= mean of the per-segment logits up to rounding), then average_clips='prob' = "
                     "softmax of that single row")
        extra["view_logits_note"] = ("fc_cls applied to each segment's pooled features (mmaction2 itself only "
                                     "computes consensus_logits); segment order = FormatShape NCHW order: "
                                     "crop-major, i.e. row = crop * num_clips + clip, crop indexing "
                                     "pipeline_info.crops (TenCrop: position, then its flipped copy)")
    else:  # 3-D: softmax per view, then mean over views
        view_logits = seen["fc"]
        ref = view_logits.softmax(-1).mean(0)
        averaging = "average_clips='prob': softmax of each view's logits, then mean over num_clips*num_crops views"
        extra["view_logits_note"] = ("fc_cls output per view; view order = FormatShape NCTHW order: crop-major, "
                                     "i.e. row = crop * num_clips + clip, crop indexing pipeline_info.crops")
    assert torch.allclose(ref, scores, atol=1e-6), (ref, scores)
    top1 = int(scores.argmax())
    assert top1 == int(result.pred_label)

    crop_bbox = meta.get("crop_bbox")
    entry = dict(
        id=case["id"],
        generator=f"tools/gen_e2e_goldens.py (mmaction2 {mmaction.__version__}, torch {torch.__version__})",
        clip=str((REPO / "tests" / "fixtures" / "preprocess" / case["clip"]).relative_to(REPO)),
        checkpoint=str(ckpt.relative_to(REPO)),
        architecture=architecture(cfg, cfg_rel, tsn_width),
        sample=dict(case["sample"], test_mode=True, start_index=0, out_of_bound_opt="loop"),
        resize_short_side=case["resize_short_side"],
        crop=case["crop"],
        format_shape=fmt,
        averaging=averaging,
        num_views=int(view_logits.shape[0]),
        scores=[float(v) for v in scores],
        top1=top1,
        top1_label=LABELS[top1],
        view_logits=[[float(v) for v in row] for row in view_logits],
        **extra,
        pipeline_info=dict(
            total_frames=int(meta["total_frames"]),
            frame_inds=[int(i) for i in meta["frame_inds"]],
            original_shape_hw=list(meta["original_shape"]),
            resized_shape_hw=resized_hw,
            crops=crops_in_view_order(crop_bbox, len(meta["frame_inds"]), case["crop"]["kind"]),
            model_input_shape=list(meta["imgs"].shape),  # after FormatShape, before batching
        ),
        mmaction_pipeline_cfg=json.loads(json.dumps(cfg.test_pipeline, default=list)),
        rebuilt_model_vs_model_golden_max_abs=golden_err,
    )
    return entry, meta


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in CASES:
        entry, meta = run_case(case)
        entries.append(entry)
        s = np.array(entry["scores"])
        print(f"{entry['id']}: views {entry['num_views']}  top1 {entry['top1']} ({s.max():.4f})  "
              f"min {s.min():.4f}  scores {np.round(s, 4).tolist()}")
    (OUT / "goldens.json").write_text(json.dumps(entries, indent=1) + "\n")
    (OUT / "labels7.txt").write_text("".join(f"{label}\n" for label in LABELS))


if __name__ == "__main__":
    sys.exit(main())
