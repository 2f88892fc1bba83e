#!/usr/bin/env bash
# The GPU checks of docs/cuda.md, on a machine with an NVIDIA GPU, its driver and PyTorch for CUDA
# 13 (whose `nvidia-*` packages give the CUDA libraries), but no Rust or FFmpeg. Run it from a
# checkout of the commit tools/gpu-bundle.sh built, with that bundle unpacked:
#
#   mkdir ../gpu && tar xJf gpu-bundle.tar.xz -C ../gpu && bash tools/gpu-checks.sh ../gpu
#
# It prints the parity tests on the GPU (reduced-width models, `predict` end to end, and the
# full-width models against goldens that mmaction2 writes there), the largest difference between
# the CPU's and the GPU's class scores of `predict --views full`, and the benchmark with mmaction2
# on the same GPU: SlowFast in 3 turns, I3D and TSN once, both protocols. About 5 minutes on an
# H100 with 16 cores, most of it mmaction2 starting (15–18 s a run).
set -uo pipefail
bundle=$(cd "${1:?usage: $0 BUNDLE_DIR}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
step() { echo "=== $* ($(date +%T))"; }

# The test binaries look for the checkout and for vidclass where they were built.
. "$bundle/paths.env"
[ "$REPO" -ef "$repo" ] || { mkdir -p "$(dirname "$REPO")" && ln -sfn "$repo" "$REPO"; }
mkdir -p "$(dirname "$VIDCLASS_EXE")" && ln -sf "$bundle/bin/vidclass" "$VIDCLASS_EXE"

site=$(python3 -c 'import site; print(site.getsitepackages()[0])')
cublas=$(find "$site/nvidia" -name 'libcublas.so.13*' -print -quit 2> /dev/null)
export LD_LIBRARY_PATH=$bundle/lib${cublas:+:$(dirname "$cublas")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
step machine
nvidia-smi -L
echo "$(nproc) cores; CUDA libraries: ${cublas:-from the system}"
python3 -c 'import torch; print("PyTorch", torch.__version__, "cudnn.allow_tf32:", torch.backends.cudnn.allow_tf32)'
ldd "$bundle/bin/vidclass" | grep "not found" && exit 1

export VIDCLASS_TEST_DEVICE=cuda
step model_parity
"$bundle/bin/model_parity" 2>&1 | grep -E "^test |test result"
step e2e_parity
"$bundle/bin/e2e_parity" --nocapture 2>&1 | grep -E "max|test result"

step mmaction2
python3 -m pip install -q --no-index --no-deps --no-compile --target "$work/site" "$bundle"/wheels/*.whl
export PYTHONPATH=$work/site
# The 1.2.0 wheel lacks DRN's module; VindLU needs an older transformers than PyTorch's images hold.
sed -i 's/^from .drn.drn import DRN/DRN = None/' "$work/site/mmaction/models/localizers/__init__.py"
sed -i 's/^if WITH_MULTIMODAL:/if False:/' "$work/site/mmaction/models/multimodal/__init__.py"
python3 tools/gen_model_goldens.py --full "$work/full" 2>&1 | grep "logits"
export VIDCLASS_FULLWIDTH=$work/full

step full_width
"$bundle/bin/full_width" --ignored --nocapture --test-threads 1 2>&1 | grep -E "max |test result"

step "predict --views full, CPU against GPU"
for device in cpu cuda; do
    "$bundle/bin/vidclass" predict --device "$device" --model slowfast-r50-4x16-k400 \
        --weights "$work/full/full_slowfast_r50_4x16.pth" --views full -k 400 --format jsonl \
        "$bundle/bench.mp4" > "$work/$device.jsonl"
done
python3 - "$work/cpu.jsonl" "$work/cuda.jsonl" << 'EOF'
import json, sys
cpu, gpu = ({e["index"]: e["score"] for e in json.load(open(f))["top"]} for f in sys.argv[1:])
top = [max(s, key=s.get) for s in (cpu, gpu)]
print(f"max |CPU - GPU| class score {max(abs(cpu[i] - gpu[i]) for i in cpu):.2e}; top-1 {top[0]}, {top[1]}")
EOF

step benchmark
export VIDCLASS_BENCH_DEVICE=cuda VIDCLASS_BENCH_PYTHON=python3 VIDCLASS_BENCH_PROTOCOLS=fast,full \
    VIDCLASS_BENCH_VIDEO=$bundle/bench.mp4
VIDCLASS_BENCH_RUNS=3 VIDCLASS_BENCH_MODELS=slowfast-r50-4x16-k400 "$bundle/bin/model" --bench
VIDCLASS_BENCH_MODELS=i3d-r50-k400,tsn-r50-1x1x8-k400 "$bundle/bin/model" --bench
step end
