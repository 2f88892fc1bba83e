//! Winograd F(4, 5) along time for the direct kernels: a 5-tap kernel over time with stride 1
//! and padding 2 (SlowFast's fast stem, 5×7×7).
//!
//! Output frames `4q .. 4q + 4` read the eight input frames `d_l = X[4q − 2 + l]`. With the
//! points 0, ±1, ±2, ±1/2 and ∞, `Y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]` (Lavin & Gray 2015), where `g` are
//! the kernel's five temporal taps, each a whole spatial kernel, and `⊙` is a spatial
//! convolution: the four output frames come from eight spatial convolutions of transformed input
//! frames `V_ξ = Σ_l Bᵀ[ξ][l] d_l` with transformed kernels `U_ξ = Σ_j G[ξ][j] g_j`, instead of
//! twenty (2.5× fewer multiplications). The rows of `Bᵀ` are scaled to small integers and those
//! of `G` divided by the same factors, so the input transform rounds no coefficient; `U` is
//! computed once, in f64.
//!
//! Rounding: simulated on 147-tap sums (the stem's spatial window) the result differs from exact
//! by up to 3e-6 of the output's scale, against 1e-6 for direct summation in f32; the other
//! Winograd layers are of the same order, well inside the model parity tolerance (1e-4).

use crate::nn::Axis;

/// `Bᵀ`, each row scaled by the factor `G`'s row is divided by (4, 18, 18, 360, 360, 45/16,
/// 45/16, 4).
const BT: [[f32; 8]; 8] = [
    [4.0, 0.0, -21.0, 0.0, 21.0, 0.0, -4.0, 0.0],
    [0.0, -4.0, -4.0, 17.0, 17.0, -4.0, -4.0, 0.0],
    [0.0, 4.0, -4.0, -17.0, 17.0, 4.0, -4.0, 0.0],
    [0.0, 2.0, 1.0, -10.0, -5.0, 8.0, 4.0, 0.0],
    [0.0, -2.0, 1.0, 10.0, -5.0, -8.0, 4.0, 0.0],
    [0.0, 4.0, 8.0, -5.0, -10.0, 1.0, 2.0, 0.0],
    [0.0, -4.0, 8.0, 5.0, -10.0, -1.0, 2.0, 0.0],
    [0.0, -4.0, 0.0, 21.0, 0.0, -21.0, 0.0, 4.0],
];

/// `G` (8 × 5): the powers of each point, divided by its row's scale in [`BT`].
const G: [[f64; 5]; 8] = [
    [1.0 / 4.0, 0.0, 0.0, 0.0, 0.0],
    [1.0 / 18.0, 1.0 / 18.0, 1.0 / 18.0, 1.0 / 18.0, 1.0 / 18.0],
    [1.0 / 18.0, -1.0 / 18.0, 1.0 / 18.0, -1.0 / 18.0, 1.0 / 18.0],
    [1.0 / 360.0, 1.0 / 180.0, 1.0 / 90.0, 1.0 / 45.0, 2.0 / 45.0],
    [1.0 / 360.0, -1.0 / 180.0, 1.0 / 90.0, -1.0 / 45.0, 2.0 / 45.0],
    [16.0 / 45.0, 8.0 / 45.0, 4.0 / 45.0, 2.0 / 45.0, 1.0 / 45.0],
    [16.0 / 45.0, -8.0 / 45.0, 4.0 / 45.0, -2.0 / 45.0, 1.0 / 45.0],
    [0.0, 0.0, 0.0, 0.0, 1.0 / 4.0],
];

/// `A` (8 × 4): row `ξ` says how much of transform `ξ`'s convolution each output frame takes.
#[cfg(target_arch = "x86_64")]
const A: [[f32; 4]; 8] = [
    [1.0, 0.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 1.0],
    [1.0, -1.0, 1.0, -1.0],
    [1.0, 2.0, 4.0, 8.0],
    [1.0, -2.0, 4.0, -8.0],
    [1.0, 0.5, 0.25, 0.125],
    [1.0, -0.5, 0.25, -0.125],
    [0.0, 0.0, 0.0, 1.0],
];

/// True for the kernels along time this transform computes.
pub(super) fn applies(at: Axis) -> bool {
    at == Axis::new(5, 1, 2)
}

/// `U_ξ = Σ_j G[ξ][j] W_j` from the column-padded `[5·S, 8]` weight (`S` rows a temporal tap):
/// `[8·S, 8]`, transform `ξ` in rows `ξ·S ..`.
pub(super) fn transform_weight(padded: &[f32]) -> Vec<f32> {
    let tap = padded.len() / 5;
    let mut u = vec![0f32; 8 * tap];
    for (g, u) in G.iter().zip(u.chunks_exact_mut(tap)) {
        for (i, u) in u.iter_mut().enumerate() {
            *u = g.iter().enumerate().map(|(j, g)| g * padded[j * tap + i] as f64).sum::<f64>() as f32;
        }
    }
    u
}

#[cfg(target_arch = "x86_64")]
pub(super) use forward::forward;

#[cfg(target_arch = "x86_64")]
mod forward {
    use rayon::prelude::*;

    use super::super::kernel::{RowInput, accumulate, sweep};
    use super::{A, BT};
    use crate::nn::Axis;
    use crate::nn::cpu::Dims;
    use crate::nn::cpu::conv::Epilogue;
    use crate::nn::cpu::winograd::spaced;

    /// Convolves `x` into `out`, which must hold zeros (the output transform adds into it), four
    /// output frames at a time: their eight transformed input frames, then one task per output
    /// row of all four.
    pub(in super::super) fn forward(
        weight: &[f32],
        [_, ah, aw]: [Axis; 3],
        x: &[f32],
        (d, od): (Dims, Dims),
        out: &mut [f32],
        epilogue: &Epilogue,
    ) {
        let (frame, out_frame, o) = (d.h * d.w * d.c, od.h * od.w * od.c, od.c);
        // The transformed frames lie a cache line more than a frame apart, like Winograd's
        // matrices: a frame is a multiple of 4 KiB for most sizes, and the input transform writes
        // all eight side by side.
        let stride = spaced(frame);
        let mut v = vec![0f32; 8 * stride];
        let zeros = vec![0f32; frame];
        for n in 0..d.n {
            for t0 in (0..od.t).step_by(4) {
                // Input frames t0 − 2 .. t0 + 6, zeros outside the clip.
                let input: [&[f32]; 8] = std::array::from_fn(|l| match (t0 + l).checked_sub(2) {
                    Some(t) if t < d.t => &x[(n * d.t + t) * frame..][..frame],
                    _ => &zeros,
                });
                let pieces = across(v.chunks_mut(stride).map(|f| &mut f[..frame]), TRANSFORM_PIECE);
                pieces.into_par_iter().enumerate().for_each(|(p, mut vs)| {
                    let start = p * TRANSFORM_PIECE;
                    let input = input.map(|f| &f[start..start + vs[0].len()]);
                    // SAFETY: the CPU has AVX2 and FMA (the caller asserts `available()`).
                    unsafe { transform_piece(&input, &mut vs) }
                });
                let frames = (od.t - t0).min(4);
                let quad = &mut out[(n * od.t + t0) * out_frame..(n * od.t + t0 + frames) * out_frame];
                let rows = across(quad.chunks_mut(out_frame), od.w * o);
                rows.into_par_iter().enumerate().for_each(|(yo, mut ys)| {
                    // SAFETY: as above.
                    unsafe { row(&v, stride, weight, (ah, aw), (d, od), yo, &mut ys) };
                    for (a, y) in ys.iter_mut().enumerate() {
                        let r = (n * od.t + t0 + a) * od.h + yo;
                        epilogue.apply(y, r * od.w..(r + 1) * od.w, o);
                    }
                });
            }
        }
    }

    /// For each `i`, the `i`-th chunk of `piece` values of every one of `frames` (all of one
    /// length): one task's share of all the frames at once.
    fn across<'a>(frames: impl Iterator<Item = &'a mut [f32]>, piece: usize) -> Vec<Vec<&'a mut [f32]>> {
        let mut chunks: Vec<_> = frames.map(|f| f.chunks_mut(piece)).collect();
        let count = chunks.first().map_or(0, |c| c.len());
        (0..count)
            .map(|_| chunks.iter_mut().map(|c| c.next().expect("frames of one length")).collect())
            .collect()
    }

    /// Values of a frame the input transform takes per task: 32 KiB of each of the eight input
    /// and eight transformed frames.
    const TRANSFORM_PIECE: usize = 8192;

    /// The same piece of the eight transformed input frames `vs[ξ] = Σ_l Bᵀ[ξ][l] d_l`, from that
    /// piece of the eight input frames `d`, in one pass: each input value is read once and each
    /// transformed value written once (transforming frame by frame read and wrote every frame
    /// five or six times, a sixth of the stem's time).
    #[target_feature(enable = "avx2,fma")]
    fn transform_piece(d: &[&[f32]; 8], vs: &mut [&mut [f32]]) {
        use std::arch::x86_64::{
            _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
        };
        let len = vs[0].len();
        assert!(d.iter().all(|d| d.len() == len) && vs.len() == 8 && vs.iter().all(|v| v.len() == len));
        let outs: [*mut f32; 8] = std::array::from_fn(|xi| vs[xi].as_mut_ptr());
        let full = len / 8 * 8;
        for i in (0..full).step_by(8) {
            // SAFETY: `i + 8 ≤ len`, the length of every input and output (asserted above).
            unsafe {
                let x: [_; 8] = std::array::from_fn(|l| _mm256_loadu_ps(d[l].as_ptr().add(i)));
                for (out, bt) in outs.iter().zip(&BT) {
                    let mut acc = _mm256_setzero_ps();
                    for (&coef, &x) in bt.iter().zip(&x) {
                        if coef != 0.0 {
                            acc = _mm256_fmadd_ps(_mm256_set1_ps(coef), x, acc);
                        }
                    }
                    _mm256_storeu_ps(out.add(i), acc);
                }
            }
        }
        for i in full..len {
            for (v, bt) in vs.iter_mut().zip(&BT) {
                v[i] = bt.iter().zip(d).map(|(&coef, d)| coef * d[i]).sum();
            }
        }
    }

    /// Output row `yo` of the (up to) four output frames `ys`: each transformed frame's spatial
    /// convolution (the frames `stride` values apart in `v`), added into every output frame with
    /// its coefficient in [`A`].
    #[target_feature(enable = "avx2,fma")]
    fn row(
        v: &[f32],
        stride: usize,
        weight: &[f32],
        (ah, aw): (Axis, Axis),
        (d, od): (Dims, Dims),
        yo: usize,
        ys: &mut [&mut [f32]],
    ) {
        let span = aw.kernel * d.c;
        let mut rows = Vec::with_capacity(ah.kernel);
        for (xi, a) in A.iter().enumerate() {
            rows.clear();
            for jh in 0..ah.kernel {
                let Some(yi) = ah.source(yo, jh, d.h) else { continue };
                rows.push((xi * stride + yi * d.w * d.c, (xi * ah.kernel + jh) * span));
            }
            let input = RowInput { x: v, weight, rows: &rows, channels: d.c, width: d.w, aw };
            sweep(&input, od.w, |xo, sums| {
                for (y, &coef) in ys.iter_mut().zip(a) {
                    if coef != 0.0 {
                        accumulate(y, od.c, xo, sums, coef);
                    }
                }
            });
        }
    }
}
