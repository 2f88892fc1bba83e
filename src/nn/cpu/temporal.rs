//! Winograd F(4, 3) along time: (3,1,1) convolutions with stride 1 and padding 1.
//!
//! Direct, output frame `t` is `Σ_j X[t + j − 1] · W_j`: three `[rows, C] × [C, O]` products per
//! frame (two at the clip's ends). F(4, 3) computes four output frames from the six input frames
//! around them as `Y = Aᵀ [ (G W) ⊙ (Bᵀ D) ]`, the same points (0, ±1, ±2) and matrices as the
//! spatial F(4×4, 3×3) of [`super::winograd`], applied along one axis only. The elementwise
//! product becomes six products `M_ξ = V_ξ · U_ξ`, so four frames take 6 products instead of 10–12
//! (the slow pathway's T = 4 is exactly one tile; T = 16 is four).
//!
//! In channels-last memory a frame's rows are contiguous, so the transforms are plain elementwise
//! sums over contiguous runs of `rows × C` (input) and `rows × O` (output) values. Work is split into
//! blocks of (four-frame tile, run of rows), the rows of all samples laid end to end so a block may
//! span samples; a block transforms its inputs, runs its six products and writes its output rows,
//! each run finished by the [`Epilogue`] while in cache.
//!
//! Rounding: the transforms mix values with factors up to 8 (and 1/24 in `G`), so results differ
//! from the direct products by a few f32 ulps of the largest term, far inside model parity.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::Dims;
use super::conv::Epilogue;
use super::gemm::Matrices;
use super::tiles::run_tasks;
use super::winograd::{G, LANES, at, bt, copy_lanes, products, spaced, write_lanes};

/// Fewest output channels for which this beats the direct products. The transforms cost per input
/// channel, the products per channel pair, so narrow layers (the fast pathway's 8–32 outputs) lose:
/// measured on Zen 4 with 3 views: 2× slower at 8 outputs, even at 32, about 10 % faster at 64,
/// 0–20 % at the slow pathway's 256 and 40 % at its 512.
pub(crate) const MIN_OUT: usize = 64;

/// Transforms the `[3·C, O]` weight (tap `j`'s `[C, O]` block at rows `j·C..`) into `U`: six
/// matrices `[C, O]`, `U_ξ = Σ_j G[ξ][j] · W_j`, summed in f64.
pub(crate) fn transform_weight(weight: &[f32], c: usize, o: usize) -> Vec<f32> {
    let n = c * o;
    let mut u = vec![0f32; 6 * n];
    u.par_chunks_mut(n).enumerate().for_each(|(xi, u)| {
        for (i, u) in u.iter_mut().enumerate() {
            let s: f64 = (0..3).map(|j| G[xi][j] * weight[j * n + i] as f64).sum();
            *u = s as f32;
        }
    });
    u
}

/// Rows `p0..p0 + r` of sample `n` in a block's output frames, one slice a frame.
struct Segment<'a> {
    n: usize,
    p0: usize,
    r: usize,
    frames: Vec<&'a mut [MaybeUninit<f32>]>,
}

/// One block: output frames `t0..t0 + 4` (fewer at the clip's end) of a run of rows, which may
/// span samples (one [`Segment`] each), so small late layers still give every thread a block with
/// enough rows.
struct Block<'a> {
    t0: usize,
    segments: Vec<Segment<'a>>,
}

/// Convolves `x` (dims `d`) with the transformed weight `u` into `out` (same dims, `o` channels),
/// writing every value.
pub(crate) fn forward(
    u: &Matrices,
    x: &[f32],
    d: Dims,
    o: usize,
    out: &mut [MaybeUninit<f32>],
    epilogue: &Epilogue,
) {
    let (c, hw) = (d.c, d.h * d.w);
    let total = d.n * hw;
    if total == 0 || d.t == 0 || o == 0 {
        return;
    }
    let threads = super::threads();
    // Rows per block: V and M (6 × rows × (C + O) values) in about 512 KiB, but at least 128 rows
    // so the products stay efficient and each U_ξ is read for enough rows; and at least one block
    // per thread where that leaves 64 rows a block.
    let target = ((1usize << 17) / (6 * (c + o))).clamp(128, 4096);
    let per_tile = threads.div_ceil(d.t.div_ceil(4)).min(total / 64);
    let count = (total / target).max(per_tile).max(1);
    let size = total.div_ceil(count);
    // Piece q covers rows q·size.. of the samples' rows laid end to end; sample n meets pieces
    // first(n)..=last(n).
    let first = |n: usize| n * hw / size;
    let last = |n: usize| ((n + 1) * hw - 1) / size;
    let mut slots: Vec<Vec<Option<&mut [MaybeUninit<f32>]>>> = Vec::with_capacity(d.n * d.t);
    for (f, mut rest) in out.chunks_mut(hw * o).enumerate() {
        let n = f / d.t;
        let mut frame = Vec::new();
        for q in first(n)..=last(n) {
            let rows = ((q + 1) * size).min((n + 1) * hw) - (q * size).max(n * hw);
            let (head, tail) = rest.split_at_mut(rows * o);
            frame.push(Some(head));
            rest = tail;
        }
        slots.push(frame);
    }
    let mut blocks = Vec::new();
    for t0 in (0..d.t).step_by(4) {
        for q in 0..total.div_ceil(size) {
            let (g0, g1) = (q * size, ((q + 1) * size).min(total));
            let segments = (g0 / hw..=(g1 - 1) / hw)
                .map(|n| {
                    let p0 = g0.max(n * hw) - n * hw;
                    let r = g1.min((n + 1) * hw) - n * hw - p0;
                    let frames = (t0..(t0 + 4).min(d.t))
                        .map(|t| slots[n * d.t + t][q - first(n)].take().expect("each slot once"))
                        .collect();
                    Segment { n, p0, r, frames }
                })
                .collect();
            blocks.push(Block { t0, segments });
        }
    }
    let run = |b: Block, threads: usize| block(u, x, d, o, b, epilogue, threads);
    // The blocks were sized to give every thread one: parallel from one a thread.
    run_tasks(blocks, threads, run);
}

/// Input transform, products and output transform of one block.
fn block(u: &Matrices, x: &[f32], d: Dims, o: usize, b: Block, epilogue: &Epilogue, threads: usize) {
    let (c, hw) = (d.c, d.h * d.w);
    let Block { t0, mut segments } = b;
    let rows: usize = segments.iter().map(|s| s.r).sum();
    let (lv, lm) = (spaced(rows * c), spaced(rows * o));
    super::with_scratch([6 * lv, 6 * lm], |v, m| {
        let mut offset = 0;
        for seg in &segments {
            let len = seg.r * c;
            // Input frames t0 − 1 .. t0 + 4, `None` outside the clip (zero padding).
            let input: [Option<&[f32]>; 6] = std::array::from_fn(|k| {
                let t = (t0 + k).checked_sub(1).filter(|&t| t < d.t)?;
                let start = ((seg.n * d.t + t) * hw + seg.p0) * c;
                Some(&x[start..start + len])
            });
            input_transform(&input, v, len, lv, offset);
            offset += len;
        }
        // Six products; the 7² frames of res5 make one block, which has every thread to itself.
        products(v, u, m, (rows, c, o), threads);
        let mut offset = 0;
        for seg in &mut segments {
            let len = seg.r * o;
            output_transform(m, &mut seg.frames, len, lm, offset);
            offset += len;
        }
    });
    for seg in &mut segments {
        for (a, y) in seg.frames.iter_mut().enumerate() {
            let row = (seg.n * d.t + t0 + a) * hw + seg.p0;
            // SAFETY: the output transform above wrote all of the segment's rows in each frame.
            epilogue.apply(unsafe { super::assume_written(y) }, row..row + seg.r, o);
        }
    }
}

/// Input transform of the `len` values of a segment's six input frames (`None`: zero padding)
/// into the six `V` matrices (`lv` values apart, the segment at `offset`), a group of [`LANES`]
/// at a time.
pub(super) fn input_transform(
    input: &[Option<&[f32]>; 6],
    v: &mut [f32],
    len: usize,
    lv: usize,
    offset: usize,
) {
    let full = len / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        input_group::<true>(input, v, (i, LANES), lv, offset);
    }
    if full < len {
        input_group::<false>(input, v, (full, len - full), lv, offset);
    }
}

/// Output transform of the `len` values of a segment (at `offset` in the six `M` matrices, `lm`
/// values apart) into its output frames, a group of [`LANES`] at a time.
pub(super) fn output_transform(
    m: &[f32],
    frames: &mut [&mut [MaybeUninit<f32>]],
    len: usize,
    lm: usize,
    offset: usize,
) {
    let full = len / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        output_group::<true>(m, frames, (i, LANES), lm, offset);
    }
    if full < len {
        output_group::<false>(m, frames, (full, len - full), lm, offset);
    }
}

/// Input transform of the `lanes` values at `i` of a segment's six input frames (`None`: zero
/// padding) into the six `V` matrices (`lv` values apart, the segment at `offset`). `FULL`: `lanes`
/// is [`LANES`], known at compile time, so the copies become single vector moves (with a run-time
/// length the compiler turns them into `memcpy` calls).
#[inline(always)]
fn input_group<const FULL: bool>(
    input: &[Option<&[f32]>; 6],
    v: &mut [f32],
    (i, lanes): (usize, usize),
    lv: usize,
    offset: usize,
) {
    let lanes = if FULL { LANES } else { lanes };
    let mut p = [[0f32; LANES]; 6];
    for (p, src) in p.iter_mut().zip(input) {
        if let Some(src) = src {
            copy_lanes(&mut p[..lanes], &src[i..i + lanes]);
        }
    }
    for (xi, vals) in bt(&p).iter().enumerate() {
        let at = xi * lv + offset + i;
        copy_lanes(&mut v[at..at + lanes], &vals[..lanes]);
    }
}

/// Output transform of the `lanes` values at `i` of a segment (at `offset` in the six `M`
/// matrices, `lm` values apart) into its output frames; `FULL` as in [`input_group`].
#[inline(always)]
fn output_group<const FULL: bool>(
    m: &[f32],
    frames: &mut [&mut [MaybeUninit<f32>]],
    (i, lanes): (usize, usize),
    lm: usize,
    offset: usize,
) {
    let lanes = if FULL { LANES } else { lanes };
    let s: [[f32; LANES]; 6] = std::array::from_fn(|xi| {
        let mut s = [0f32; LANES];
        let at = xi * lm + offset + i;
        copy_lanes(&mut s[..lanes], &m[at..at + lanes]);
        s
    });
    for (y, vals) in frames.iter_mut().zip(at(&s)) {
        write_lanes(&mut y[i..i + lanes], &vals[..lanes]);
    }
}
