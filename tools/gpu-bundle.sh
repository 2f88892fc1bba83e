#!/usr/bin/env bash
# Packs what the GPU checks (tools/gpu-checks.sh) need on a machine that has an NVIDIA GPU, its
# driver, CUDA 13 libraries and PyTorch, but no Rust, no FFmpeg and no network:
#   bin/       vidclass, the parity tests and the benchmark, built with `--features cuda`
#   lib/       a minimal shared FFmpeg of the version built against (H.264, HEVC, MPEG-4, VP8/9,
#              AV1 decoders; MP4, Matroska/WebM, AVI demuxers), since such a machine has none
#   wheels/    mmaction2 1.2.0 and the packages it needs that PyTorch's images lack (Python 3.12)
#   bench.mp4  the benchmark's 10 s 640×360 H.264 test pattern
#   paths.env  where this checkout and the binary were, which the test binaries have compiled in
# and writes them to DIR/gpu-bundle.tar.xz (about 30 MB; the binaries share candle's PTX, which
# the large compression window stores once).
#
#   bash tools/cuda-toolkit-from-pypi.sh ../cuda13 > ../cuda13.env && . ../cuda13.env
#   bash tools/gpu-bundle.sh ../gpu
#
# Debian/Ubuntu only: FFmpeg's source comes from the distribution's source packages, matching
# the installed libavcodec-dev. Builds into CARGO_TARGET_DIR when set (keep the CPU build apart).
set -euo pipefail
out=$(mkdir -p "${1:?usage: $0 DIR}" && cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
stage=$out/stage
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/wheels"
cd "$repo"

# The executables cargo reports for each build, by target name.
executables() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])'
}
{
    cargo build --release --features cuda --bin vidclass --message-format=json-render-diagnostics
    cargo test --release --features cuda --no-run --message-format=json-render-diagnostics \
        --test model_parity --test e2e_parity --test full_width
    cargo bench --features cuda --bench model --no-run --message-format=json-render-diagnostics
} | executables | while read -r name path; do
    cp "$path" "$stage/bin/$name"
    if [ "$name" = vidclass ]; then echo "VIDCLASS_EXE=$path" > "$stage/paths.env"; fi
done
echo "REPO=$repo" >> "$stage/paths.env"
strip "$stage"/bin/*

# FFmpeg: the installed version's source, shared libraries only, decoders for common cameras.
version=$(dpkg-query -W -f '${Version}' libavcodec-dev)
upstream=${version#*:} && upstream=${upstream%%-*}
src=$out/ffmpeg-src && mkdir -p "$src/lists/partial"
if [ ! -d "$src/ffmpeg-$upstream" ]; then
    . /etc/os-release
    printf 'deb-src http://deb.debian.org/debian %s main\ndeb-src http://deb.debian.org/debian-security %s-security main\n' \
        "$VERSION_CODENAME" "$VERSION_CODENAME" > "$src/sources.list"
    if [ "$ID" = ubuntu ]; then
        printf 'deb-src http://archive.ubuntu.com/ubuntu %s main universe\ndeb-src http://security.ubuntu.com/ubuntu %s-security main universe\n' \
            "$VERSION_CODENAME" "$VERSION_CODENAME" > "$src/sources.list"
    fi
    apt=(-o "Dir::Etc::SourceList=$src/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$src/lists" -o APT::Sandbox::User=root)
    apt-get "${apt[@]}" update >&2
    (cd "$src" && apt-get "${apt[@]}" source --download-only "ffmpeg=$version" >&2 \
        && tar xf "ffmpeg_$upstream.orig.tar.xz")
fi
command -v nasm > /dev/null || apt-get install -y nasm >&2
(
    cd "$src/ffmpeg-$upstream"
    ./configure --prefix="$out/ffmpeg" --enable-shared --disable-static --disable-programs --disable-doc \
        --disable-everything --disable-network --disable-autodetect \
        --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc --enable-swscale \
        --enable-decoder=h264,hevc,mpeg4,vp8,vp9,av1,mjpeg,rawvideo \
        --enable-parser=h264,hevc,mpeg4video,vp8,vp9,av1 \
        --enable-demuxer=mov,matroska,avi,h264,hevc,rawvideo \
        --enable-bsf=vp9_superframe_split,h264_mp4toannexb,hevc_mp4toannexb \
        --enable-protocol=file,pipe >&2
    make -j"$(nproc)" >&2 && make install >&2
)
for lib in $(readelf -d "$stage/bin/vidclass" | grep -o 'lib\(av\|sw\)[a-z]*\.so\.[0-9]*'); do
    cp -L "$out/ffmpeg/lib/$lib" "$stage/lib/"
done

# mmaction2 for Python 3.12; importlib_metadata before 9, whose Python 3.14 shims need a module
# PyTorch's images lack.
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2010_x86_64 --platform manylinux2014_x86_64 -d "$stage/wheels" \
    mmaction2==1.2.0 mmengine==0.10.7 mmcv-lite==2.1.0 decord==0.6.0 addict==2.4.0 yapf==0.43.0 \
    platformdirs==4.14.8 termcolor==3.3.0 importlib_metadata==8.7.0 >&2

ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=10 \
    -c:v libx264 -pix_fmt yuv420p -preset veryfast "$stage/bench.mp4"

tar -C "$stage" -cf - . | xz -6 --lzma2=preset=6,dict=192MiB -T1 > "$out/gpu-bundle.tar.xz"
ls -l "$out/gpu-bundle.tar.xz"
