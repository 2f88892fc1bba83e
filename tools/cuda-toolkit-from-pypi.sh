#!/usr/bin/env bash
# A CUDA 13.0 toolkit for `cargo build --features cuda` from NVIDIA's PyPI wheels, for machines
# without CUDA packages (and without a GPU: the driver's libcuda.so is replaced by a link-time
# stub). Needs pip and gcc; writes DIR and prints the environment to build with.
#
#   bash tools/cuda-toolkit-from-pypi.sh ../cuda13 > ../cuda13.env && . ../cuda13.env
#   cargo build --release --features cuda
#
# The binary needs the real driver and CUDA 13 runtime libraries where it runs (docs/cuda.md).
set -euo pipefail
dir=$(mkdir -p "${1:?usage: $0 DIR}" && cd "$1" && pwd)
compute_cap=${CUDA_COMPUTE_CAP:-90}

python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir/wheels" \
    "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" \
    "nvidia-nvvm==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-cccl==13.0.*" \
    "nvidia-cublas==13.0.*" "nvidia-curand==10.4.*" >&2
for wheel in "$dir"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$dir"
done
cuda=$dir/nvidia/cu13
chmod +x "$cuda"/bin/* "$cuda"/nvvm/bin/*

# Unversioned names for the linker.
for lib in cublas cublasLt cudart curand nvrtc; do
    ln -sf "$(cd "$cuda/lib" && ls "lib$lib.so."* | grep -v -e builtins -e alt | head -1)" "$cuda/lib/lib$lib.so"
done

# libcuda.so comes with the driver, not the toolkit: a stub defining every function cuda.h
# declares satisfies the linker, and the driver's library replaces it at run time.
mkdir -p "$cuda/lib/stubs"
echo '#include <cuda.h>' | gcc -E -I"$cuda/include" -x c - \
    | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | sed 's/[[:space:]]*($//' | sort -u \
    | sed 's/.*/int &(void) { return 999; }/' > "$cuda/lib/stubs/stub.c"
gcc -shared -o "$cuda/lib/stubs/libcuda.so" -Wl,-soname,libcuda.so.1 "$cuda/lib/stubs/stub.c"

cat <<EOF
export CUDA_HOME=$cuda
export PATH=$cuda/bin:\$PATH
export LIBRARY_PATH=$cuda/lib:$cuda/lib/stubs
export CUDA_COMPUTE_CAP=$compute_cap
export CUDARC_CUDA_VERSION=13000
EOF
