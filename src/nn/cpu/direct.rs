//! Direct convolution for narrow layers over an RGB input: SlowFast's fast-pathway stem (5×7×7,
//! 3 → 8 channels, stride (1, 2, 2)).
//!
//! That stem's im2col route ([`super::frames`]) multiplies 147-value windows by a weight of only
//! 40 columns (8 outputs × 5 temporal taps), where the GEMM kernels reach about 60 % of their
//! peak, and gathers every window first. Here nothing is gathered: [`PIXELS`] neighbouring output
//! pixels of one output row accumulate in registers, all 8 output channels in one register each,
//! and every tap costs one load of 8 weights shared by [`PIXELS`] fused multiply-adds with the
//! pixels' input values broadcast. Wider outputs (the 64-channel stems) keep the GEMM path, which
//! is efficient at that width.
//!
//! The kernel is written with AVX2/FMA intrinsics: the compiler's own vectorisation of the same
//! loops spilled the accumulators and ran at half the speed. CPUs without AVX2 and FMA, and other
//! architectures, keep [`super::frames`] and [`super::im2col`].

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

use rayon::prelude::*;

use super::Dims;
use super::conv::Epilogue;
use crate::nn::Axis;

/// Output channels a layer may have: one register.
pub(crate) const MAX_OUT: usize = 8;

/// Input channels a layer may have (RGB, with room for an alpha or depth channel).
pub(crate) const MAX_IN: usize = 4;

/// Output pixels accumulated together: with the weight register and a broadcast, 14 of the 16
/// vector registers.
#[cfg(target_arch = "x86_64")]
const PIXELS: usize = 12;

/// True when this CPU has the kernel's instructions.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The `[K, O]` weight with its columns padded with zeros to [`MAX_OUT`], so every tap loads a
/// whole register.
pub(crate) fn pad_columns(weight: &[f32], o: usize) -> Vec<f32> {
    let mut out = vec![0f32; weight.len() / o * MAX_OUT];
    for (dst, src) in out.chunks_exact_mut(MAX_OUT).zip(weight.chunks_exact(o)) {
        dst[..o].copy_from_slice(src);
    }
    out
}

/// Convolves `x` (dims `d`) into `out` (dims `od`) with the column-padded weight `weight`
/// (see [`pad_columns`]), one task per output row. Only called where [`available`].
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) fn forward(
    weight: &[f32],
    axes: [Axis; 3],
    x: &[f32],
    (d, od): (Dims, Dims),
    out: &mut [f32],
    epilogue: &Epilogue,
) {
    assert!(available() && d.c <= MAX_IN && od.c <= MAX_OUT, "the direct kernel does not apply");
    #[cfg(target_arch = "x86_64")]
    out.par_chunks_mut(od.w * od.c).enumerate().with_min_len(4).for_each(|(r, y)| {
        // SAFETY: the CPU has AVX2 and FMA (asserted above).
        unsafe { row(weight, axes, x, (d, od), r, y) };
        epilogue.apply(y, r * od.w..(r + 1) * od.w, od.c);
    });
}

/// Output row `r` (sample, frame and pixel row of `od`) into `y` (`od.w · od.c` values).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn row(weight: &[f32], [at, ah, aw]: [Axis; 3], x: &[f32], (d, od): (Dims, Dims), r: usize, y: &mut [f32]) {
    let (yo, to, n) = (r % od.h, r / od.h % od.t, r / (od.h * od.t));
    let span = aw.kernel * d.c;
    // The (t, h) taps inside the input: the offset of input row (ti, yi) in `x`, and the first
    // weight row of its `span` taps along w and c.
    let mut rows = Vec::with_capacity(at.kernel * ah.kernel);
    for jt in 0..at.kernel {
        let Some(ti) = at.source(to, jt, d.t) else { continue };
        for jh in 0..ah.kernel {
            let Some(yi) = ah.source(yo, jh, d.h) else { continue };
            rows.push((((n * d.t + ti) * d.h + yi) * d.w * d.c, (jt * ah.kernel + jh) * span));
        }
    }
    // Output pixels whose whole window along w lies inside the frame: `xo·s ≥ p` and
    // `xo·s − p + k ≤ W`.
    let first = aw.padding.div_ceil(aw.stride).min(od.w);
    let last = (d.w + aw.padding).checked_sub(aw.kernel).map_or(0, |e| e / aw.stride + 1).clamp(first, od.w);
    let o = od.c;
    let store = |y: &mut [f32], xo: usize, acc: [f32; MAX_OUT]| y[xo * o..][..o].copy_from_slice(&acc[..o]);
    // Blocks of PIXELS; the last one ends at `last` and may recompute part of the one before it,
    // which costs less than finishing pixel by pixel.
    if last - first >= PIXELS {
        let step = aw.stride * d.c;
        let blocks = (first..last - PIXELS).step_by(PIXELS).chain([last - PIXELS]);
        for x0 in blocks {
            let start = (x0 * aw.stride - aw.padding) * d.c;
            // The fast stem's step (stride 2, RGB) as a constant: the twelve pixels' reads then
            // address from one register, which makes the block a sixth faster.
            let y = &mut y[x0 * o..(x0 + PIXELS) * o];
            match step {
                6 => block::<PIXELS, 6>(x, weight, &rows, (start, step, span), y),
                _ => block::<PIXELS, 0>(x, weight, &rows, (start, step, span), y),
            }
        }
    } else {
        for xo in first..last {
            let start = (xo * aw.stride - aw.padding) * d.c;
            store(y, xo, pixel(x, weight, &rows, (start, span, 0)));
        }
    }
    // Pixels whose window along w reaches into the padding: only the taps inside the frame.
    for xo in (0..first).chain(last..od.w) {
        let lo = aw.padding.saturating_sub(xo * aw.stride);
        let hi = (d.w + aw.padding - xo * aw.stride).min(aw.kernel);
        if lo < hi {
            let start = (xo * aw.stride + lo - aw.padding) * d.c;
            store(y, xo, pixel(x, weight, &rows, (start, (hi - lo) * d.c, lo * d.c)));
        } else {
            store(y, xo, [0.0; MAX_OUT]);
        }
    }
}

/// Output pixels `P` pixels into `y` (`o` values each), whose windows lie inside the frame: pixel
/// `p` reads `span` values from `start + p·step` on in each input row of `rows`. `STEP`, when not
/// 0, is `step` known at compile time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn block<const P: usize, const STEP: usize>(
    x: &[f32],
    weight: &[f32],
    rows: &[(usize, usize)],
    (start, step, span): (usize, usize, usize),
    y: &mut [f32],
) {
    let step = if STEP > 0 { STEP } else { step };
    let mut acc: [__m256; P] = [_mm256_setzero_ps(); P];
    for &(input_row, weight_row) in rows {
        // Every read below is inside these two slices: `p·step + k < (P − 1)·step + span` and
        // `k·8 + 8 ≤ span·8`. A checked read per product would keep the row offsets from fitting
        // the registers.
        let window = &x[input_row + start..][..(P - 1) * step + span];
        let w = &weight[weight_row * MAX_OUT..][..span * MAX_OUT];
        for k in 0..span {
            // SAFETY: in bounds of `w` and `window`, see above.
            let wv = unsafe { _mm256_loadu_ps(w.as_ptr().add(k * MAX_OUT)) };
            for (p, acc) in acc.iter_mut().enumerate() {
                // SAFETY: in bounds of `window`, see above.
                let v = unsafe { _mm256_broadcast_ss(&*window.as_ptr().add(p * step + k)) };
                *acc = _mm256_fmadd_ps(v, wv, *acc);
            }
        }
    }
    let o = y.len() / P;
    for (acc, y) in acc.into_iter().zip(y.chunks_exact_mut(o)) {
        if o == MAX_OUT {
            // SAFETY: `y` holds MAX_OUT values.
            unsafe { _mm256_storeu_ps(y.as_mut_ptr(), acc) };
        } else {
            // SAFETY: a register of 8 f32 lanes is an [f32; 8].
            y.copy_from_slice(&unsafe { std::mem::transmute::<__m256, [f32; MAX_OUT]>(acc) }[..o]);
        }
    }
}

/// Sums for one output pixel: `span` values from `start` on in each input row of `rows`, times
/// the weight rows from `skip` on in each tap's block. Four partial sums over every fourth tap
/// keep four products in flight instead of each waiting on the one before.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn pixel(
    x: &[f32],
    weight: &[f32],
    rows: &[(usize, usize)],
    (start, span, skip): (usize, usize, usize),
) -> [f32; MAX_OUT] {
    let mut acc = [_mm256_setzero_ps(); 4];
    for &(input_row, weight_row) in rows {
        let window = &x[input_row + start..][..span];
        let w = &weight[(weight_row + skip) * MAX_OUT..][..span * MAX_OUT];
        let (vs, ws) = (window.chunks_exact(4), w.chunks_exact(4 * MAX_OUT));
        let (v_rest, w_rest) = (vs.remainder(), ws.remainder());
        for (v, w) in vs.zip(ws).chain([(v_rest, w_rest)]) {
            for (j, (&v, w)) in v.iter().zip(w.chunks_exact(MAX_OUT)).enumerate() {
                // SAFETY: `w` is a chunk of MAX_OUT values.
                let wv = unsafe { _mm256_loadu_ps(w.as_ptr()) };
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(v), wv, acc[j]);
            }
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    // SAFETY: a register of 8 f32 lanes is an [f32; 8].
    unsafe { std::mem::transmute::<__m256, [f32; MAX_OUT]>(sum) }
}
