//! Direct convolution for narrow layers over an RGB input: SlowFast's fast-pathway stem (5×7×7,
//! 3 → 8 channels, stride (1, 2, 2)).
//!
//! That stem's im2col route ([`super::frames`]) multiplies 147-value windows by a weight of only
//! 40 columns (8 outputs × 5 temporal taps), where the GEMM kernels reach about 60 % of their
//! peak, and gathers every window first. Here nothing is gathered: neighbouring output pixels of
//! one output row accumulate in registers, all 8 output channels in one register each, and every
//! tap costs one load of 8 weights shared by a dozen fused multiply-adds with the pixels' input
//! values broadcast ([`kernel`]). Wider outputs (the 64-channel stems) keep the GEMM path, which
//! is efficient at that width. The same kernel takes the fast pathway's narrowest 3×3
//! convolutions (8 → 8 channels).
//!
//! A 5-tap kernel over time with stride 1 and padding 2 (the stem again) also takes Winograd
//! F(4, 5) along time ([`over_time`]): four output frames from 8 spatial convolutions of
//! transformed input frames instead of 20.
//!
//! The kernels use AVX2 and FMA. CPUs without them, and other architectures, keep
//! [`super::frames`] and [`super::im2col`].

#[cfg(target_arch = "x86_64")]
mod kernel;
mod over_time;

use super::Dims;
use super::conv::Epilogue;
use crate::nn::Axis;

/// Output channels a layer may have: one register.
pub(crate) const MAX_OUT: usize = 8;

/// Input channels a layer may have: the stems' RGB, and the 8 channels of the fast pathway's
/// first 3×3 convolutions (8 → 8), where Winograd's transforms cost more than the products they
/// save (32×64² frames on one thread: 3.8 ms as Winograd, 2.2 ms here).
pub(crate) const MAX_IN: usize = 8;

/// True when this CPU has the kernels' instructions.
pub(crate) fn available() -> bool {
    super::avx2_fma()
}

/// The weight the kernels read, from the `[K, O]` matrix (rows in (t, h, w, c) order): columns
/// padded with zeros to [`MAX_OUT`], so every tap loads a whole register, and for a kernel that
/// takes [`over_time`] its taps along time transformed.
pub(crate) fn prepare_weight(weight: &[f32], at: Axis, o: usize) -> Vec<f32> {
    let mut padded = vec![0f32; weight.len() / o * MAX_OUT];
    for (dst, src) in padded.chunks_exact_mut(MAX_OUT).zip(weight.chunks_exact(o)) {
        dst[..o].copy_from_slice(src);
    }
    if over_time::applies(at) { over_time::transform_weight(&padded) } else { padded }
}

/// Convolves `x` (dims `d`) into `out` (dims `od`) with the weight from [`prepare_weight`].
/// Only called where [`available`].
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
    if over_time::applies(axes[0]) {
        over_time::forward(weight, axes, x, (d, od), out, epilogue)
    } else {
        frame_by_frame(weight, axes, x, (d, od), out, epilogue)
    }
}

/// Every output row on its own, summed over all its (t, h) input rows: one task per output row.
#[cfg(target_arch = "x86_64")]
fn frame_by_frame(
    weight: &[f32],
    [at, ah, aw]: [Axis; 3],
    x: &[f32],
    (d, od): (Dims, Dims),
    out: &mut [f32],
    epilogue: &Epilogue,
) {
    use rayon::prelude::*;
    let span = aw.kernel * d.c;
    out.par_chunks_mut(od.w * od.c).enumerate().with_min_len(4).for_each(|(r, y)| {
        let (yo, to, n) = (r % od.h, r / od.h % od.t, r / (od.h * od.t));
        // The (t, h) taps inside the input: the offset of input row (ti, yi) in `x`, and the
        // first weight row of its `span` taps along w and c.
        let mut rows = Vec::with_capacity(at.kernel * ah.kernel);
        for jt in 0..at.kernel {
            let Some(ti) = at.source(to, jt, d.t) else { continue };
            for jh in 0..ah.kernel {
                let Some(yi) = ah.source(yo, jh, d.h) else { continue };
                rows.push((((n * d.t + ti) * d.h + yi) * d.w * d.c, (jt * ah.kernel + jh) * span));
            }
        }
        let input = kernel::RowInput { x, weight, rows: &rows, channels: d.c, width: d.w, aw };
        // SAFETY: the CPU has AVX2 and FMA (`forward` asserts `available()`).
        unsafe { kernel::sweep(&input, od.w, |xo, sums| kernel::store(y, od.c, xo, sums)) };
        epilogue.apply(y, r * od.w..(r + 1) * od.w, od.c);
    });
}
