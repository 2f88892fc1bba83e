//! Winograd F(4, 3) along time for a 5-tap kernel with temporal stride 2 and padding 2: I3D's
//! stem (5×7×7, stride (2, 2, 2)), 28 % of that model's multiplications.
//!
//! With stride 2, output frame `t = Σ_j X[2t + j − 2] · W_j` reads the even input frames
//! `E[s] = X[2s]` through taps 0, 2 and 4 and the odd ones `O[s] = X[2s + 1]` through taps 1 and
//! 3: `Y[t] = E[t−1]·W₀ + E[t]·W₂ + E[t+1]·W₄ + O[t−1]·W₁ + O[t]·W₃`. Each phase is a
//! stride-1, padding-1 kernel of three taps over its own frames (the odd one's third tap zero),
//! so F(4, 3) — the points and matrices of [`super::temporal`] — applies to both: four output
//! frames come from 6 + 5 spatial convolutions of transformed input frames instead of 20 (the odd
//! phase's sixth transformed kernel, `G[5]·(W₁, W₃, 0)`, is zero), 1.8× fewer multiplications.
//! [`super::frames`] computed this stem as direct convolution, each input frame gathered once.
//!
//! The input transform mixes whole raw input frames (RGB for the stem), which is cheap next to
//! the products; then, as in [`super::frames`], each task owns a tile of output pixels, gathers
//! the spatial windows of each transformed frame once and multiplies them by that frame's
//! transformed kernel. Both phases share F(4, 3)'s output transform, which is linear, so the odd
//! phase's five products add into the even phase's six and one transform of the sums gives the
//! four output frames.
//!
//! Rounding: the transforms mix values with factors up to 5 (8 in `Aᵀ`, 1/24 in `G`), as the
//! other Winograd layers do, a few f32 ulps of the largest term, far inside model parity.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::Dims;
use super::conv::Epilogue;
use super::gemm::{MatRef, Matrices, matmul};
use super::im2col::gather_frame;
use super::temporal::{input_transform, output_transform};
use super::tiles::run_tasks;
use super::winograd::{G, spaced};
use crate::nn::Axis;

/// Transformed frames (and kernels) per four output frames: six of the even phase, five of the
/// odd.
const PRODUCTS: usize = 11;

/// Transformed kernels of the even phase; the odd phase's follow.
const EVEN: usize = 6;

/// Transformed input frames kept per four output frames: both phases' six, the odd phase's
/// sixth unused (it meets a zero kernel), so the input transform of [`super::temporal`] serves.
const FRAMES: usize = 12;

/// True for the kernels along time this computes.
pub(crate) fn applies(at: Axis) -> bool {
    at == Axis::new(5, 2, 2)
}

/// Transforms the `[5·S, O]` weight (tap `j`'s `[S, O]` block at rows `j·S..`) into
/// [`PRODUCTS`] matrices `[S, O]`: the even phase's `U_ξ = Σ_i G[ξ][i] · W_{2i}` (ξ < 6), then
/// the odd phase's `U_ξ = G[ξ][0] · W₁ + G[ξ][1] · W₃` (ξ < 5), summed in f64.
pub(crate) fn transform_weight(weight: &[f32]) -> Vec<f32> {
    let n = weight.len() / 5;
    let tap = |j: usize| &weight[j * n..(j + 1) * n];
    let mut u = vec![0f32; PRODUCTS * n];
    u.par_chunks_mut(n.max(1)).enumerate().for_each(|(k, u)| {
        let (xi, taps): (usize, &[usize]) = if k < EVEN { (k, &[0, 2, 4]) } else { (k - EVEN, &[1, 3]) };
        for (i, u) in u.iter_mut().enumerate() {
            let s: f64 = taps.iter().enumerate().map(|(col, &j)| G[xi][col] * tap(j)[i] as f64).sum();
            *u = s as f32;
        }
    });
    u
}

/// One task: a sample, a four-frame tile of output frames, a tile of output pixels, and those
/// pixels' output rows in each of the tile's frames.
struct Task<'a> {
    n: usize,
    q: usize,
    pixels: Range<usize>,
    frames: Vec<&'a mut [MaybeUninit<f32>]>,
}

/// Convolves `x` (dims `d`) into `out` (dims `od`), writing every value, with the weight from
/// [`transform_weight`]; `axes` along time must be one that [`applies`].
pub(crate) fn forward(
    u: &Matrices,
    [_, ah, aw]: [Axis; 3],
    x: &[f32],
    (d, od): (Dims, Dims),
    out: &mut [MaybeUninit<f32>],
    epilogue: &Epilogue,
) {
    let o = od.c;
    let pixels = od.h * od.w;
    let spatial = ah.kernel * aw.kernel * d.c;
    let quads = od.t.div_ceil(4);
    let v = transform_input(x, d, quads);
    let lv = spaced(d.h * d.w * d.c);
    // Pixels per task: 154 for the stem (147 values a window, 64 outputs), the fastest of 64, 154,
    // 256 and 512 measured; the six sums and one gathered matrix then take about 300 KiB.
    let tile = ((1 << 17) / (PRODUCTS * o + spatial)).clamp(64, 1024).min(pixels.max(1));
    let tiles: Vec<Range<usize>> = (0..pixels).step_by(tile).map(|s| s..(s + tile).min(pixels)).collect();
    let mut tasks: Vec<Task> = (0..od.n * quads)
        .flat_map(|nq| {
            tiles.iter().map(move |p| Task {
                n: nq / quads,
                q: nq % quads,
                pixels: p.clone(),
                frames: vec![],
            })
        })
        .collect();
    for (f, frame) in out.chunks_mut(pixels * o).enumerate() {
        let (n, t) = (f / od.t, f % od.t);
        let mut rest = frame;
        for (i, p) in tiles.iter().enumerate() {
            let (head, tail) = rest.split_at_mut(p.len() * o);
            tasks[(n * quads + t / 4) * tiles.len() + i].frames.push(head);
            rest = tail;
        }
    }
    // One transformed input frame, as the gather reads it.
    let frame_dims = Dims { n: 1, t: 1, ..d };
    let run = |task: Task, threads: usize| {
        let Task { n, q, pixels, mut frames } = task;
        let m = pixels.len();
        let lm = spaced(m * o);
        super::with_scratch([m * spatial, EVEN * lm], |cols, sums| {
            for xi in 0..PRODUCTS {
                // The odd phase's unused sixth frame is the last, so product ξ reads frame ξ; the
                // odd phase's ξ-th product adds into the even phase's.
                let v = &v[((n * quads + q) * FRAMES + xi) * lv..];
                gather_frame(v, frame_dims, od, (ah, aw), (0, 0), pixels.clone(), cols);
                let cols = MatRef::dense(cols, m, spatial);
                let sum = &mut sums[xi % EVEN * lm..][..m * o];
                matmul(sum, cols, u.get(xi), xi >= EVEN, threads);
            }
            output_transform(sums, &mut frames, m * o, lm, 0);
        });
        for (k, y) in frames.into_iter().enumerate() {
            let row = (n * od.t + 4 * q + k) * od.h * od.w + pixels.start;
            // SAFETY: `output_transform` wrote every value of the frame's rows above.
            epilogue.apply(unsafe { super::assume_written(y) }, row..row + m, o);
        }
    };
    run_tasks(tasks, 2 * super::threads(), run);
}

/// The transformed input frames: for each sample and four-frame output tile, [`FRAMES`] frames
/// `[H, W, C]`, [`spaced`] apart: the even phase's six `V_ξ` from input frames `2s`, then the odd
/// phase's from frames `2s + 1`, `s` running over `4q − 1 .. 4q + 5` (zero outside the clip).
fn transform_input(x: &[f32], d: Dims, quads: usize) -> Vec<f32> {
    let len = d.h * d.w * d.c;
    let lv = spaced(len);
    let mut v = vec![0f32; d.n * quads * FRAMES * lv];
    v.par_chunks_mut(FRAMES * lv).enumerate().for_each(|(nq, v)| {
        let (n, q) = (nq / quads, nq % quads);
        for phase in 0..2 {
            let input: [Option<&[f32]>; 6] = std::array::from_fn(|l| {
                let t = 2 * (4 * q + l).checked_sub(1)? + phase;
                (t < d.t).then(|| &x[(n * d.t + t) * len..][..len])
            });
            let offset = phase * EVEN * lv;
            input_transform(&input, v, len, lv, offset);
        }
    });
    v
}
