//! The AVX2/FMA inner loops: every output pixel of one output row, summed over a list of input
//! rows, [`PIXELS`] pixels at a time in registers.
//!
//! Written with intrinsics: the compiler's own vectorisation of the same loops spilled the
//! accumulators and ran at half the speed.

use std::arch::x86_64::{
    __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps,
    _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::MAX_OUT;
use crate::nn::Axis;

/// Output pixels accumulated together: with the weight register and a broadcast, 14 of the 16
/// vector registers.
const PIXELS: usize = 12;

/// One output row's input: `rows` lists, for each input row it reads, that row's offset in `x`
/// and the first row of the weight's `[span, 8]` block for it (`span = kw · C` values along w
/// and c); `aw` is the window along w, `width` the input row's length in pixels.
pub(super) struct RowInput<'a> {
    pub x: &'a [f32],
    pub weight: &'a [f32],
    pub rows: &'a [(usize, usize)],
    pub channels: usize,
    pub width: usize,
    pub aw: Axis,
}

/// The sums of output pixels `0..out_width`, handed to `sink(xo, sums)` for runs of pixels
/// `xo..xo + sums.len()`, each sum the 8 output channels of one pixel.
#[target_feature(enable = "avx2,fma")]
pub(super) fn sweep(input: &RowInput, out_width: usize, mut sink: impl FnMut(usize, &[__m256])) {
    let RowInput { channels: c, width, aw, .. } = *input;
    let span = aw.kernel * c;
    // Output pixels whose whole window along w lies inside the row: `xo·s ≥ p` and
    // `xo·s − p + k ≤ W`.
    let first = aw.padding.div_ceil(aw.stride).min(out_width);
    let last =
        (width + aw.padding).checked_sub(aw.kernel).map_or(0, |e| e / aw.stride + 1).clamp(first, out_width);
    // Blocks of PIXELS; the last one ends at `last` and may recompute part of the one before it,
    // which costs less than finishing pixel by pixel. Each pixel goes to `sink` once.
    if last - first >= PIXELS {
        let step = aw.stride * c;
        let mut done = first;
        for x0 in (first..last - PIXELS).step_by(PIXELS).chain([last - PIXELS]) {
            let start = (x0 * aw.stride - aw.padding) * c;
            // The common steps (the stem's stride 2 over RGB, stride 1 over 8 channels) as
            // constants: the twelve pixels' reads then address from one register, which makes
            // the block a sixth faster.
            let sums = match step {
                6 => block::<PIXELS, 6>(input, (start, step, span)),
                8 => block::<PIXELS, 8>(input, (start, step, span)),
                _ => block::<PIXELS, 0>(input, (start, step, span)),
            };
            let fresh = done - x0;
            sink(done, &sums[fresh..]);
            done = x0 + PIXELS;
        }
    } else {
        for xo in first..last {
            let start = (xo * aw.stride - aw.padding) * c;
            sink(xo, &[pixel(input, (start, span, 0))]);
        }
    }
    // Pixels whose window along w reaches into the padding: only the taps inside the row.
    for xo in (0..first).chain(last..out_width) {
        let lo = aw.padding.saturating_sub(xo * aw.stride);
        let hi = (width + aw.padding - xo * aw.stride).min(aw.kernel);
        let sum = if lo < hi {
            let start = (xo * aw.stride + lo - aw.padding) * c;
            pixel(input, (start, (hi - lo) * c, lo * c))
        } else {
            _mm256_setzero_ps()
        };
        sink(xo, &[sum]);
    }
}

/// Sums of `P` output pixels whose windows lie inside the row: pixel `p` reads `span` values from
/// `start + p·step` on in each input row. `STEP`, when not 0, is `step` known at compile time.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn block<const P: usize, const STEP: usize>(
    input: &RowInput,
    (start, step, span): (usize, usize, usize),
) -> [__m256; P] {
    let step = if STEP > 0 { STEP } else { step };
    let mut acc: [__m256; P] = [_mm256_setzero_ps(); P];
    for &(input_row, weight_row) in input.rows {
        // Every read below is inside these two slices: `p·step + k < (P − 1)·step + span` and
        // `k·8 + 8 ≤ span·8`. A checked read per product would keep the row offsets from fitting
        // the registers.
        let window = &input.x[input_row + start..][..(P - 1) * step + span];
        let w = &input.weight[weight_row * MAX_OUT..][..span * MAX_OUT];
        for k in 0..span {
            // SAFETY: in bounds of `w`, see above.
            let wv = unsafe { _mm256_loadu_ps(w.as_ptr().add(k * MAX_OUT)) };
            for (p, acc) in acc.iter_mut().enumerate() {
                // SAFETY: in bounds of `window`, see above.
                let v = unsafe { _mm256_broadcast_ss(&*window.as_ptr().add(p * step + k)) };
                *acc = _mm256_fmadd_ps(v, wv, *acc);
            }
        }
    }
    acc
}

/// The sum of one output pixel: `span` values from `start` on in each input row, times the
/// weight rows from `skip` on in each row's block. Four partial sums over every fourth tap keep
/// four products in flight instead of each waiting on the one before.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn pixel(input: &RowInput, (start, span, skip): (usize, usize, usize)) -> __m256 {
    let mut acc = [_mm256_setzero_ps(); 4];
    for &(input_row, weight_row) in input.rows {
        let window = &input.x[input_row + start..][..span];
        let w = &input.weight[(weight_row + skip) * MAX_OUT..][..span * MAX_OUT];
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
    _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))
}

/// Writes the sums of pixels `xo..` into `y` (`o` channels a pixel).
#[target_feature(enable = "avx2,fma")]
pub(super) fn store(y: &mut [f32], o: usize, xo: usize, sums: &[__m256]) {
    for (sum, y) in sums.iter().zip(y[xo * o..].chunks_exact_mut(o)) {
        if o == MAX_OUT {
            // SAFETY: `y` holds MAX_OUT values.
            unsafe { _mm256_storeu_ps(y.as_mut_ptr(), *sum) };
        } else {
            y.copy_from_slice(&lanes(*sum)[..o]);
        }
    }
}

/// Adds `coef` times the sums of pixels `xo..` to `y` (`o` channels a pixel).
#[target_feature(enable = "avx2,fma")]
pub(super) fn accumulate(y: &mut [f32], o: usize, xo: usize, sums: &[__m256], coef: f32) {
    let coef = _mm256_set1_ps(coef);
    for (sum, y) in sums.iter().zip(y[xo * o..].chunks_exact_mut(o)) {
        if o == MAX_OUT {
            // SAFETY: `y` holds MAX_OUT values.
            unsafe {
                _mm256_storeu_ps(y.as_mut_ptr(), _mm256_fmadd_ps(coef, *sum, _mm256_loadu_ps(y.as_ptr())))
            };
        } else {
            let sum = lanes(_mm256_mul_ps(coef, *sum));
            y.iter_mut().zip(sum).for_each(|(y, s)| *y += s);
        }
    }
}

/// A register's 8 lanes.
fn lanes(v: __m256) -> [f32; MAX_OUT] {
    // SAFETY: a register of 8 f32 lanes is an [f32; 8].
    unsafe { std::mem::transmute::<__m256, [f32; MAX_OUT]>(v) }
}
