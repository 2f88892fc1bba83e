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
        let mut v = vec![0f32; 8 * frame];
        for n in 0..d.n {
            for t0 in (0..od.t).step_by(4) {
                v.par_chunks_mut(frame).enumerate().for_each(|(xi, v)| {
                    // SAFETY: the CPU has AVX2 and FMA (the caller asserts `available()`).
                    unsafe { transform_frame(x, d, (n, t0), xi, v) }
                });
                let frames = (od.t - t0).min(4);
                let quad = &mut out[(n * od.t + t0) * out_frame..(n * od.t + t0 + frames) * out_frame];
                let mut per_frame: Vec<_> =
                    quad.chunks_mut(out_frame).map(|f| f.chunks_mut(od.w * o)).collect();
                let rows: Vec<Vec<&mut [f32]>> = (0..od.h)
                    .map(|_| per_frame.iter_mut().map(|f| f.next().expect("od.h rows a frame")).collect())
                    .collect();
                rows.into_par_iter().enumerate().for_each(|(yo, mut ys)| {
                    // SAFETY: as above.
                    unsafe { row(&v, weight, (ah, aw), (d, od), yo, &mut ys) };
                    for (a, y) in ys.iter_mut().enumerate() {
                        let r = (n * od.t + t0 + a) * od.h + yo;
                        epilogue.apply(y, r * od.w..(r + 1) * od.w, o);
                    }
                });
            }
        }
    }

    /// Transformed input frame `ξ` of output frames `t0 ..` of sample `n`: `Σ_l Bᵀ[ξ][l] d_l`,
    /// input frames outside the clip being zero. The first term overwrites `v` and the others add
    /// to it, one pass each: clearing `v` first would be one more pass over 8 frames per quad.
    #[target_feature(enable = "avx2,fma")]
    fn transform_frame(x: &[f32], d: Dims, (n, t0): (usize, usize), xi: usize, v: &mut [f32]) {
        let frame = v.len();
        let mut written = false;
        for (l, &coef) in BT[xi].iter().enumerate() {
            let Some(t) = (t0 + l).checked_sub(2).filter(|&t| t < d.t) else { continue };
            if coef != 0.0 {
                let src = &x[(n * d.t + t) * frame..][..frame];
                if written {
                    v.iter_mut().zip(src).for_each(|(v, &s)| *v = coef.mul_add(s, *v));
                } else {
                    v.iter_mut().zip(src).for_each(|(v, &s)| *v = coef * s);
                    written = true;
                }
            }
        }
        if !written {
            v.fill(0.0);
        }
    }

    /// Output row `yo` of the (up to) four output frames `ys`: each transformed frame's spatial
    /// convolution, added into every output frame with its coefficient in [`A`].
    #[target_feature(enable = "avx2,fma")]
    fn row(
        v: &[f32],
        weight: &[f32],
        (ah, aw): (Axis, Axis),
        (d, od): (Dims, Dims),
        yo: usize,
        ys: &mut [&mut [f32]],
    ) {
        let (frame, span) = (d.h * d.w * d.c, aw.kernel * d.c);
        let mut rows = Vec::with_capacity(ah.kernel);
        for (xi, a) in A.iter().enumerate() {
            rows.clear();
            for jh in 0..ah.kernel {
                let Some(yi) = ah.source(yo, jh, d.h) else { continue };
                rows.push((xi * frame + yi * d.w * d.c, (xi * ah.kernel + jh) * span));
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
