#!/usr/bin/env python3
"""Generate golden fixtures for vidclass's video-input (preprocessing) tests.

What it does
------------
1. Synthesises a set of small, deterministic test clips with the ``ffmpeg`` CLI
   (lavfi sources ``testsrc2`` / ``mandelbrot`` / ``smptehdbars`` with motion):
   H.264 in MP4 (even-but-odd-ratio size, landscape, portrait, display-rotated,
   variable frame rate, 20-frame, 426x240 upscale), H.264 in Matroska, VP9 in
   WebM (odd width) and MPEG-4 Part 2 in AVI (one of them odd width and height).
2. Opens every clip exactly like mmaction2 1.2.0's ``DecordInit`` does and records
   ``total_frames = len(VideoReader)``, ``avg_fps`` and the decoded (rotated)
   frame size, next to ffprobe's header ``nb_frames`` and its decoded frame count.
3. Runs mmaction2's own ``SampleFrames(test_mode=True)`` over a table of
   (clip_len, frame_interval, num_clips, out_of_bound_opt) settings for the
   clips' frame counts and for synthetic frame counts -> ``indices.json``.
4. Runs mmaction2's real test pipeline, built from ``mmaction.registry.TRANSFORMS``
   and ``mmengine.dataset.Compose``::

       DecordInit -> SampleFrames(test_mode=True) -> DecordDecode
         -> Resize(scale=(-1, S), keep_ratio=True) -> {Center,Three,Ten}Crop -> FormatShape

   for a list of cases and stores the uint8 tensor FormatShape returns (before any
   normalisation) plus the sampled frame indices in one safetensors file per case.
5. Dumps a few full decoded RGB24 frames (decord, native size, no resize) so a
   decoder's YUV->RGB conversion (and rotation handling) can be checked bit-exactly.
6. Writes ``manifest.json`` describing every clip / case / frame dump.

Everything is written under ``--out`` (normally ``tests/fixtures/preprocess``),
which is wiped of previously generated files first.  The output is deterministic
for a given tool-chain (ffmpeg encoders run single-threaded with ``+bitexact``).
The versions used are recorded in ``manifest.json``.

This script is NOT used by the Rust build or tests; they only read its output.

How to run (from the repository root)::

    /work/venv/bin/python tools/gen_preprocess_goldens.py --out tests/fixtures/preprocess

Requirements: Python venv with mmaction2==1.2.0, mmcv-lite==2.1.0,
mmengine==0.10.7, decord, opencv, numpy, safetensors (torch is imported by
mmaction); optionally PyAV (only for the ``rgb_vs_swscale`` measurement in the
manifest); the ``ffmpeg``/``ffprobe`` CLI (generated with Debian FFmpeg 5.1).
The hand-written ``README.md`` in the output directory is left alone; ``clips/``,
``goldens/``, ``manifest.json`` and ``indices.json`` are regenerated.
Note: the mmaction2 1.2.0 wheel misses ``mmaction/models/localizers/drn``; replace
``from .drn.drn import DRN`` with ``DRN = None`` in
``<site-packages>/mmaction/models/localizers/__init__.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

# --------------------------------------------------------------------------
# Clips
# --------------------------------------------------------------------------
# Common encoder flags: single-threaded, bit-exact muxing, no metadata -> deterministic.
_DET = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
        "-threads", "1"]
_X264 = ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p",
         "-x264-params", "threads=1:lookahead-threads=1"]

# name -> dict(args=ffmpeg args after the global flags (inputs + filters + codec),
#              desc=human description)
CLIPS: dict[str, dict] = {
    "h264_342x258.mp4": dict(
        desc="H.264 High yuv420p in MP4, 342x258 (non-16-multiple size, odd resize "
             "ratios; H.264 4:2:0 cannot code odd sizes, see README), testsrc2, 25 fps, "
             "60 frames, B-frames",
        args=["-f", "lavfi", "-i", "testsrc2=size=342x258:rate=25", "-frames:v", "60",
              *_X264, "-crf", "30"]),
    "h264_640x360.mp4": dict(
        desc="H.264 yuv420p in MP4, 640x360 landscape (downscale), testsrc2, 25 fps, "
             "48 frames",
        args=["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-frames:v", "48",
              *_X264, "-crf", "32"]),
    "h264_360x640_portrait.mp4": dict(
        desc="H.264 yuv420p in MP4, 360x640 portrait (coded portrait, no rotation "
             "metadata), zooming mandelbrot, 25 fps, 40 frames",
        args=["-f", "lavfi", "-i", "mandelbrot=size=360x640:rate=25:start_scale=2",
              "-frames:v", "40", *_X264, "-crf", "36"]),
    "h264_256x144_rot90.mp4": dict(
        desc="H.264 yuv420p in MP4, coded 256x144 with a display matrix (ffprobe "
             "rotation=90, i.e. show rotated 90 deg counter-clockwise), testsrc2, "
             "25 fps, 40 frames",
        args=["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-frames:v", "40",
              *_X264, "-crf", "28"],
        # FFmpeg 5.1 ignores the rotate tag when encoding; it is honoured on a
        # stream-copy remux (there is no -display_rotation before FFmpeg 6).
        remux=["-metadata:s:v:0", "rotate=90"]),
    "h264_256x144_rot270.mp4": dict(
        desc="H.264 yuv420p in MP4, coded 256x144 with a display matrix (ffprobe "
             "rotation=-90, the usual phone-portrait case: show rotated 90 deg "
             "clockwise), testsrc2, 25 fps, 30 frames",
        args=["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-frames:v", "30",
              *_X264, "-crf", "28"],
        remux=["-metadata:s:v:0", "rotate=270"]),
    "vp9_171x96.webm": dict(
        desc="VP9 profile 0 yuv420p in WebM, odd width 171x96 (chroma 86x48), "
             "testsrc2 cropped, 25 fps, 40 frames, alt-ref frames; WebM header has "
             "no frame count",
        args=["-f", "lavfi", "-i", "testsrc2=size=192x112:rate=25",
              "-vf", "format=rgb24,crop=171:96:7:5,format=yuv420p", "-frames:v", "40",
              "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-crf", "36", "-b:v", "0",
              "-deadline", "good", "-cpu-used", "4", "-row-mt", "0",
              "-tile-columns", "0", "-frame-parallel", "0", "-auto-alt-ref", "1",
              "-lag-in-frames", "16"]),
    "mpeg4_171x97_oddh.avi": dict(
        desc="MPEG-4 Part 2 yuv420p in AVI, odd width AND odd height 171x97 "
             "(chroma 86x49), testsrc2 cropped, 25 fps, 20 frames. Odd height: "
             "decord's RGB is NOT swscale's unscaled yuv420p->rgb24 result here "
             "(see README)",
        args=["-f", "lavfi", "-i", "testsrc2=size=192x112:rate=25",
              "-vf", "format=rgb24,crop=171:97:5:9,format=yuv420p", "-frames:v", "20",
              "-c:v", "mpeg4", "-q:v", "8", "-bf", "0", "-g", "10"]),
    "mpeg4_320x240.avi": dict(
        desc="MPEG-4 Part 2 (FMP4) yuv420p in AVI, 320x240, smptehdbars with a "
             "moving testsrc2 overlay, 25 fps, 30 frames",
        args=["-filter_complex",
              "smptehdbars=size=320x240:rate=25[a];testsrc2=size=96x72:rate=25[b];"
              "[a][b]overlay=x='mod(n*9,224)':y='40+mod(n*5,120)',format=yuv420p[v]",
              "-map", "[v]", "-frames:v", "30",
              "-c:v", "mpeg4", "-q:v", "10", "-bf", "0", "-g", "12"]),
    "h264_384x216.mkv": dict(
        desc="H.264 yuv420p in Matroska, 384x216, zooming mandelbrot, 25 fps, "
             "50 frames; Matroska header has no frame count",
        args=["-f", "lavfi", "-i", "mandelbrot=size=384x216:rate=25:start_scale=2",
              "-frames:v", "50", *_X264, "-crf", "32"]),
    "h264_320x180_vfr.mp4": dict(
        desc="H.264 yuv420p in MP4, 320x180, variable frame rate: frames 0-19 at "
             "1/25 s spacing, frames 20-44 at 2/25 s spacing (45 frames), testsrc2",
        args=["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
              "-vf", "setpts='(N+max(0\\,N-20))/(25*TB)'", "-fps_mode", "vfr",
              "-frames:v", "45", *_X264, "-crf", "30",
              "-video_track_timescale", "1000"]),
    "h264_256x144_20f.mp4": dict(
        desc="H.264 yuv420p in MP4, 256x144, only 20 frames (shorter than one "
             "32x2 clip), testsrc2, 25 fps",
        args=["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-frames:v", "20",
              *_X264, "-crf", "26"]),
    "h264_426x240.mp4": dict(
        desc="H.264 yuv420p in MP4, 426x240 (short side 240 -> upscaled to 256), "
             "smptehdbars with moving mandelbrot overlay, 30 fps, 40 frames",
        args=["-filter_complex",
              "smptehdbars=size=426x240:rate=30[a];"
              "mandelbrot=size=128x96:rate=30:start_scale=1.5[b];"
              "[a][b]overlay=x='mod(n*7,298)':y='20+mod(n*3,120)',format=yuv420p[v]",
              "-map", "[v]", "-frames:v", "40", *_X264, "-crf", "30"]),
}


def make_clip(name: str, out: Path) -> None:
    spec = CLIPS[name]
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    # _DET are output options (they follow the inputs in spec["args"]).
    if "remux" not in spec:
        subprocess.run([*ff, *spec["args"], *_DET, str(out)], check=True)
        return
    tmp = out.with_name("tmp_" + out.name)
    try:
        subprocess.run([*ff, *spec["args"], *_DET, str(tmp)], check=True)
        subprocess.run([*ff, "-i", str(tmp), "-map", "0", "-c", "copy",
                        "-fflags", "+bitexact", "-map_metadata", "-1",
                        *spec["remux"], str(out)], check=True)
    finally:
        tmp.unlink(missing_ok=True)


def ffprobe(path: Path) -> dict:
    def run(extra):
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0",
                            *extra, "-of", "json", str(path)],
                           check=True, capture_output=True, text=True)
        return json.loads(r.stdout)

    info = run(["-show_entries",
                "stream=codec_name,profile,pix_fmt,width,height,nb_frames,"
                "avg_frame_rate,r_frame_rate:stream_side_data=rotation:"
                "format=format_name"])
    counted = run(["-count_frames", "-count_packets", "-show_entries",
                   "stream=nb_read_frames,nb_read_packets"])
    st = info["streams"][0]
    rot = None
    for sd in st.get("side_data_list", []) or []:
        if "rotation" in sd:
            rot = int(sd["rotation"])
    nb = st.get("nb_frames")
    return dict(
        codec=st.get("codec_name"), profile=st.get("profile"),
        pix_fmt=st.get("pix_fmt"), container=info["format"]["format_name"],
        coded_width=int(st["width"]), coded_height=int(st["height"]),
        header_nb_frames=int(nb) if nb not in (None, "N/A") else None,
        decoded_frames=int(counted["streams"][0]["nb_read_frames"]),
        packets=int(counted["streams"][0]["nb_read_packets"]),
        avg_frame_rate=st.get("avg_frame_rate"), r_frame_rate=st.get("r_frame_rate"),
        display_rotation=rot)


# --------------------------------------------------------------------------
# mmaction2 helpers
# --------------------------------------------------------------------------
def mm_setup():
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)


def build_pipeline(cfgs):
    from mmengine.dataset import Compose
    from mmaction.registry import TRANSFORMS
    return Compose([TRANSFORMS.build(copy.deepcopy(c)) for c in cfgs])


def pyav_matches_decord(path: Path, rotation) -> dict | None:
    """Measured fact for the Rust side: is decord's RGB24 identical to FFmpeg
    swscale's plain yuv->rgb24 conversion at native size (PyAV ``to_ndarray``),
    frame by frame in pts order (rotation applied with np.rot90)?  None if PyAV
    is not installed."""
    try:
        import av
        import decord
    except ImportError:
        return None
    vr = decord.VideoReader(str(path), num_threads=1)
    dec = vr.get_batch(list(range(len(vr)))).asnumpy()
    with av.open(str(path)) as cont:
        frames = sorted(cont.decode(video=0), key=lambda f: f.pts)
        ref = [f.to_ndarray(format="rgb24") for f in frames]
    k = {90: 1, -90: -1, 180: 2, -180: 2}.get(rotation, 0)
    ref = [np.rot90(a, k) if k else a for a in ref]
    n_same = sum(1 for a, b in zip(ref, dec) if a.shape == b.shape and np.array_equal(a, b))
    maxdiff = max((int(np.abs(a.astype(int) - b.astype(int)).max())
                   for a, b in zip(ref, dec) if a.shape == b.shape), default=None)
    return {"pyav_version": av.__version__, "pyav_frames": len(ref),
            "frames_identical": n_same, "max_abs_diff": maxdiff,
            "all_identical": n_same == len(ref) == len(dec)}


def decord_info(path: Path) -> dict:
    """Open the clip with mmaction2's DecordInit (exactly as the pipeline does)."""
    p = build_pipeline([dict(type="DecordInit", io_backend="disk", num_threads=1),
                        dict(type="DecordDecode")])
    res = {"filename": str(path), "start_index": 0, "modality": "RGB",
           "frame_inds": np.array([0], dtype=np.int64)}
    init, dec = p.transforms
    res = init(res)
    total = int(res["total_frames"])
    fps = float(res["avg_fps"])
    res = dec(res)
    h, w = res["imgs"][0].shape[:2]
    return dict(total_frames=total, avg_fps=fps, width=int(w), height=int(h))


def sample_indices(total_frames, clip_len, frame_interval, num_clips,
                   out_of_bound_opt="loop"):
    from mmaction.registry import TRANSFORMS
    t = TRANSFORMS.build(dict(type="SampleFrames", clip_len=clip_len,
                              frame_interval=frame_interval, num_clips=num_clips,
                              test_mode=True, out_of_bound_opt=out_of_bound_opt))
    r = t({"total_frames": int(total_frames), "start_index": 0})
    return [int(x) for x in np.asarray(r["frame_inds"]).reshape(-1)]


INDEX_SETTINGS = [
    # (clip_len, frame_interval, num_clips, out_of_bound_opt)
    (32, 2, 10, "loop"), (32, 2, 1, "loop"), (4, 16, 10, "loop"), (8, 8, 10, "loop"),
    (8, 8, 1, "loop"), (4, 16, 1, "loop"), (1, 1, 25, "loop"), (1, 1, 8, "loop"),
    (1, 1, 3, "loop"), (16, 4, 7, "loop"),
    (32, 2, 10, "repeat_last"), (32, 2, 1, "repeat_last"), (16, 4, 7, "repeat_last"),
    (8, 8, 1, "repeat_last"), (4, 16, 10, "repeat_last"),
]
SYNTH_FRAME_COUNTS = [1, 7, 10, 20, 50, 63, 64, 65, 100, 280, 300, 1000]

# --------------------------------------------------------------------------
# Pixel cases
# --------------------------------------------------------------------------
# crop: (kind, size) with kind in CenterCrop / ThreeCrop / TenCrop
CASES = [
    dict(id="h264_342x258_s64_three64_l2i8k1", clip="h264_342x258.mp4",
         clip_len=2, frame_interval=8, num_clips=1, short_side=64,
         crop=("ThreeCrop", 64), format_shape="NCTHW"),
    dict(id="h264_640x360_s256_center224_l1k1_nchw", clip="h264_640x360.mp4",
         clip_len=1, frame_interval=1, num_clips=1, short_side=256,
         crop=("CenterCrop", 224), format_shape="NCHW"),
    dict(id="h264_640x360_s64_ten48_l1k2_nchw", clip="h264_640x360.mp4",
         clip_len=1, frame_interval=1, num_clips=2, short_side=64,
         crop=("TenCrop", 48), format_shape="NCHW"),
    dict(id="portrait_360x640_s48_three48_l2i8k2", clip="h264_360x640_portrait.mp4",
         clip_len=2, frame_interval=8, num_clips=2, short_side=48,
         crop=("ThreeCrop", 48), format_shape="NCTHW"),
    dict(id="rot90_s48_three48_l2i8k1", clip="h264_256x144_rot90.mp4",
         clip_len=2, frame_interval=8, num_clips=1, short_side=48,
         crop=("ThreeCrop", 48), format_shape="NCTHW"),
    dict(id="rot270_s40_center40_l2i8k2", clip="h264_256x144_rot270.mp4",
         clip_len=2, frame_interval=8, num_clips=2, short_side=40,
         crop=("CenterCrop", 40), format_shape="NCTHW"),
    dict(id="vp9_171x96_s96_center96_l4i4k1", clip="vp9_171x96.webm",
         clip_len=4, frame_interval=4, num_clips=1, short_side=96,
         crop=("CenterCrop", 96), format_shape="NCTHW"),
    dict(id="oddh_171x97_s64_center64_l2i8k1", clip="mpeg4_171x97_oddh.avi",
         clip_len=2, frame_interval=8, num_clips=1, short_side=64,
         crop=("CenterCrop", 64), format_shape="NCTHW"),
    dict(id="mpeg4_avi_s64_center64_l4i4k2", clip="mpeg4_320x240.avi",
         clip_len=4, frame_interval=4, num_clips=2, short_side=64,
         crop=("CenterCrop", 64), format_shape="NCTHW"),
    dict(id="mpeg4_avi_s64_center56_l1k3_nchw", clip="mpeg4_320x240.avi",
         clip_len=1, frame_interval=1, num_clips=3, short_side=64,
         crop=("CenterCrop", 56), format_shape="NCHW"),
    dict(id="mkv_384x216_s64_center56_l4i8k1", clip="h264_384x216.mkv",
         clip_len=4, frame_interval=8, num_clips=1, short_side=64,
         crop=("CenterCrop", 56), format_shape="NCTHW"),
    dict(id="vfr_320x180_s64_center64_l2i16k2", clip="h264_320x180_vfr.mp4",
         clip_len=2, frame_interval=16, num_clips=2, short_side=64,
         crop=("CenterCrop", 64), format_shape="NCTHW"),
    dict(id="short20_s32_center32_l8i4k1_wrap", clip="h264_256x144_20f.mp4",
         clip_len=8, frame_interval=4, num_clips=1, short_side=32,
         crop=("CenterCrop", 32), format_shape="NCTHW"),
    dict(id="short20_s32_center32_l1k25_nchw", clip="h264_256x144_20f.mp4",
         clip_len=1, frame_interval=1, num_clips=25, short_side=32,
         crop=("CenterCrop", 32), format_shape="NCHW"),
    dict(id="upscale_426x240_s256_center224_l1k1", clip="h264_426x240.mp4",
         clip_len=1, frame_interval=1, num_clips=1, short_side=256,
         crop=("CenterCrop", 224), format_shape="NCTHW"),
]

# Full-frame RGB dumps: clip -> frame indices (decord order, i.e. by pts)
RGB_DUMPS = {
    "h264_256x144_20f.mp4": [0, 13],
    "vp9_171x96.webm": [0, 9],
    "h264_256x144_rot90.mp4": [5],
    "mpeg4_171x97_oddh.avi": [4],
}


def case_pipeline_cfg(c: dict) -> list:
    kind, size = c["crop"]
    return [
        dict(type="DecordInit", io_backend="disk", num_threads=1),
        dict(type="SampleFrames", clip_len=c["clip_len"],
             frame_interval=c["frame_interval"], num_clips=c["num_clips"],
             test_mode=True, out_of_bound_opt=c.get("out_of_bound_opt", "loop")),
        dict(type="DecordDecode"),
        dict(type="Resize", scale=(-1, c["short_side"])),
        dict(type=kind, crop_size=size),
        dict(type="FormatShape", input_format=c["format_shape"]),
    ]


def run_case(c: dict, clip_path: Path) -> tuple[dict, dict]:
    pipe = build_pipeline(case_pipeline_cfg(c))
    res = {"filename": str(clip_path), "start_index": 0, "modality": "RGB"}
    # Same as Compose.__call__, but stepwise so we can record intermediate sizes.
    rec = {}
    for t in pipe.transforms:
        res = t(res)
        name = type(t).__name__
        if name == "DecordDecode":
            h, w = res["imgs"][0].shape[:2]
            rec["decoded_hw"] = (int(h), int(w))
        elif name == "Resize":
            h, w = res["imgs"][0].shape[:2]
            rec["resized_hw"] = (int(h), int(w))
            assert tuple(res["img_shape"]) == (h, w)
        elif name in ("CenterCrop", "ThreeCrop", "TenCrop"):
            bb = np.asarray(res["crop_bbox"]).reshape(-1, 4)
            uniq = []
            for row in bb.tolist():
                if not uniq or uniq[-1] != row:
                    uniq.append([int(v) for v in row])
            rec["crop_bboxes"] = uniq
    imgs = res["imgs"]
    assert isinstance(imgs, np.ndarray) and imgs.dtype == np.uint8, imgs.dtype
    assert tuple(imgs.shape) == tuple(res["input_shape"])
    tensors = {
        "imgs": np.ascontiguousarray(imgs),
        "frame_inds": np.ascontiguousarray(
            np.asarray(res["frame_inds"]).reshape(-1).astype(np.int64)),
    }
    rec["total_frames"] = int(res["total_frames"])
    rec["imgs_shape"] = [int(s) for s in imgs.shape]
    return tensors, rec


# --------------------------------------------------------------------------
def tool_versions() -> dict:
    import cv2
    import decord
    import mmaction
    import mmcv
    import mmengine
    import safetensors
    ff = " ".join(subprocess.run(["ffmpeg", "-version"], capture_output=True,
                                 text=True, check=True).stdout.split()[:3])
    # decord's wheel bundles its own (older) FFmpeg libraries; record their sonames.
    libs = Path(decord.__file__).resolve().parent.parent / "decord.libs"
    bundled = sorted(p.name.split("-")[0] + " " + p.name.split(".so.")[-1]
                     for p in libs.glob("libav*.so*")) if libs.is_dir() else []
    bundled += sorted(p.name.split("-")[0] + " " + p.name.split(".so.")[-1]
                      for p in libs.glob("libswscale*.so*")) if libs.is_dir() else []
    return {"mmaction2": mmaction.__version__, "mmcv": mmcv.__version__,
            "mmengine": mmengine.__version__, "decord": decord.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__, "ffmpeg_cli": ff,
            "decord_bundled_ffmpeg_libs": bundled,
            "python": sys.version.split()[0]}


def save_st(path: Path, tensors: dict, meta: dict) -> None:
    from safetensors.numpy import save_file
    for k, v in tensors.items():
        assert v.flags["C_CONTIGUOUS"], k
    # A single metadata key: the safetensors writer keeps metadata in a hash map,
    # so several keys would be written in a random order (non-deterministic files).
    save_file(tensors, str(path),
              metadata={"fixture": json.dumps(meta, sort_keys=True,
                                              separators=(",", ":"))})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/preprocess", type=Path)
    args = ap.parse_args()
    out: Path = args.out
    clips_dir = out / "clips"
    gold_dir = out / "goldens"
    # wipe previous generated output (keep README.md, which is hand-written)
    for d in (clips_dir, gold_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    for f in ("manifest.json", "indices.json"):
        if (out / f).exists():
            (out / f).unlink()

    mm_setup()

    # 1+2. clips
    clips_meta = []
    for name in CLIPS:
        path = clips_dir / name
        make_clip(name, path)
        probe = ffprobe(path)
        try:
            dinfo = decord_info(path)
            err = None
        except Exception as e:  # decord refuses some inputs (anchors §8.29)
            dinfo, err = None, f"{type(e).__name__}: {e}"
        m = {
            "file": f"clips/{name}", "description": CLIPS[name]["desc"],
            "size_bytes": path.stat().st_size, "ffprobe": probe,
            "decord_ok": dinfo is not None, "decord_error": err,
        }
        if dinfo:
            m.update({"decord_total_frames": dinfo["total_frames"],
                      "decord_avg_fps": dinfo["avg_fps"],
                      "decoded_width": dinfo["width"],
                      "decoded_height": dinfo["height"],
                      "rgb_vs_swscale": pyav_matches_decord(
                          path, probe["display_rotation"])})
        clips_meta.append(m)
        print(f"clip {name}: {path.stat().st_size} B, decord={dinfo}, "
              f"ffprobe nb_frames={probe['header_nb_frames']} "
              f"decoded={probe['decoded_frames']} err={err}", flush=True)
    ok_clips = {Path(m["file"]).name: m for m in clips_meta if m["decord_ok"]}

    # 3. indices
    counts = sorted(set(SYNTH_FRAME_COUNTS) |
                    {m["decord_total_frames"] for m in ok_clips.values()})
    indices = []
    for n in counts:
        for (L, I, K, oob) in INDEX_SETTINGS:
            indices.append(dict(total_frames=n, clip_len=L, frame_interval=I,
                                num_clips=K, out_of_bound_opt=oob, start_index=0,
                                frame_inds=sample_indices(n, L, I, K, oob)))
    (out / "indices.json").write_text(json.dumps(
        {"description": "mmaction2 1.2.0 SampleFrames(test_mode=True, start_index=0) "
                        "frame indices; frame_inds is the flat list "
                        "(num_clips*clip_len, clip-major)",
         "entries": indices}, indent=None, separators=(",", ":")) + "\n")

    # 4. pixel cases
    cases_meta = []
    for c in CASES:
        if c["clip"] not in ok_clips:
            print(f"skip case {c['id']}: decord failed on {c['clip']}")
            continue
        cm = ok_clips[c["clip"]]
        tensors, rec = run_case(c, clips_dir / c["clip"])
        fname = f"goldens/{c['id']}.safetensors"
        kind, size = c["crop"]
        meta = {
            "id": c["id"], "clip": cm["file"],
            "safetensors": fname,
            "pipeline": {
                "clip_len": c["clip_len"], "frame_interval": c["frame_interval"],
                "num_clips": c["num_clips"],
                "out_of_bound_opt": c.get("out_of_bound_opt", "loop"),
                "start_index": 0, "test_mode": True,
                "resize_short_side": c["short_side"], "keep_ratio": True,
                "interpolation": "bilinear",
                "crop_kind": kind, "crop_size": size,
                "format_shape": c["format_shape"],
            },
            "mmaction_pipeline_cfg": case_pipeline_cfg(c),
            "total_frames": rec["total_frames"],
            "decoded_width": rec["decoded_hw"][1], "decoded_height": rec["decoded_hw"][0],
            "resized_width": rec["resized_hw"][1], "resized_height": rec["resized_hw"][0],
            "crop_bboxes_xyxy": rec["crop_bboxes"],
            "imgs_shape": rec["imgs_shape"],
            "frame_inds": [int(x) for x in tensors["frame_inds"]],
        }
        assert rec["total_frames"] == cm["decord_total_frames"]
        save_st(out / fname, tensors, {
            "case_id": c["id"], "format_shape": c["format_shape"],
            "resized_hw": list(rec["resized_hw"]),
            "decoded_hw": list(rec["decoded_hw"])})
        cases_meta.append(meta)
        print(f"case {c['id']}: imgs {rec['imgs_shape']} resized "
              f"{rec['resized_hw']} crops {rec['crop_bboxes']}", flush=True)

    # 5. RGB dumps (DecordInit + DecordDecode with explicit frame indices)
    rgb_meta = []
    for clip, idxs in RGB_DUMPS.items():
        if clip not in ok_clips:
            continue
        p = build_pipeline([dict(type="DecordInit", io_backend="disk", num_threads=1),
                            dict(type="DecordDecode")])
        for i in idxs:
            res = p({"filename": str(clips_dir / clip), "start_index": 0,
                     "modality": "RGB", "frame_inds": np.array([i], dtype=np.int64)})
            rgb = np.ascontiguousarray(res["imgs"][0])
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
            fname = f"goldens/rgb_{Path(clip).stem}_f{i:03d}.safetensors"
            save_st(out / fname, {"rgb": rgb, "index": np.array([i], dtype=np.int64)},
                    {"clip": clip, "index": i})
            rgb_meta.append({"clip": ok_clips[clip]["file"], "index": i,
                             "safetensors": fname,
                             "height": int(rgb.shape[0]), "width": int(rgb.shape[1])})
            print(f"rgb {clip} #{i}: {rgb.shape}", flush=True)

    manifest = {
        "schema_version": 1,
        "generator": "tools/gen_preprocess_goldens.py",
        "regenerate": "/work/venv/bin/python tools/gen_preprocess_goldens.py "
                      "--out tests/fixtures/preprocess",
        "versions": tool_versions(),
        "notes": [
            "All paths are relative to this manifest's directory.",
            "cases[].safetensors holds 'imgs' (uint8, exactly FormatShape's output: "
            "[views, C=3, T, H, W] for NCTHW, [views, C=3, H, W] for NCHW; RGB, "
            "0..255, not normalised) and 'frame_inds' (int64, flat, clip-major, "
            "as SampleFrames produced them).",
            "views order: crop-major then clip (NCTHW: view = crop*num_clips + clip); "
            "NCHW: row = (crop*num_clips + clip)*clip_len + t.",
            "crop_bboxes_xyxy: distinct crop boxes [x1,y1,x2,y2] in output order, as "
            "mmaction2 recorded them (TenCrop: each box is used twice, unflipped then "
            "horizontally flipped).",
            "rgb_frames[].safetensors holds 'rgb' (uint8 [H,W,3], decord RGB24 at "
            "decoded size, rotation applied) and 'index' (int64 [1]).",
            "clips[].rgb_vs_swscale: measured comparison of decord's RGB24 frames "
            "with FFmpeg swscale yuv420p->rgb24 at native size (PyAV to_ndarray); "
            "all_identical=false marks a clip where a swscale-style converter "
            "cannot be bit-exact (odd frame height).",
            "clips[].ffprobe.display_rotation is av_display_rotation_get(): 90 = "
            "decord shows the coded picture rotated 90 deg counter-clockwise "
            "(np.rot90(coded, 1)); -90 = clockwise (np.rot90(coded, -1)).",
        ],
        "clips": clips_meta,
        "cases": cases_meta,
        "rgb_frames": rgb_meta,
        "indices_file": "indices.json",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    clip_total = sum(f.stat().st_size for f in clips_dir.iterdir())
    print(f"total {total} B (clips {clip_total} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
