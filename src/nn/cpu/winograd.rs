//! Winograd F(4×4, 3×3): stride-1, padding-1 3×3 convolutions with 4× fewer multiplications.
//!
//! Every 4×4 block of output pixels is computed from the 6×6 input patch around it as
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A` (Lavin & Gray, "Fast Algorithms for Convolutional Neural
//! Networks", 2015, with the points 0, ±1, ±2). Summed over input channels, the elementwise product
//! becomes 36 independent matrix products `M_ξ = V_ξ · U_ξ` (tiles × C times C × O), which is 36
//! multiply-adds per tile and channel pair instead of 144 for direct convolution.
//!
//! The weight transform `U = G g Gᵀ` is done once, in f64. Work is split into blocks of whole
//! rows of tiles, so a block's outputs are one contiguous run of output rows that a thread
//! transforms in, multiplies, transforms out and finishes with the [`Epilogue`] on its own.
//!
//! Rounding: the transforms add values of mixed sign and scale (factors up to 8 and 1/24), so the
//! result differs from direct convolution by a few f32 ulps of the largest input term — about
//! 1e-6 relative per layer, well inside the model parity tolerance (1e-4 of the logit scale).

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::Dims;
use super::conv::Epilogue;
use super::gemm::{MatRef, Matrices, matmul};
use super::tiles::run_tasks;

/// Channels processed together by the transforms (one or two SIMD registers).
pub(super) const LANES: usize = 8;

/// Copies `src` into `dst`, at most [`LANES`] values: a full register's worth as one fixed-size
/// move, which compiles to a vector load and store where `copy_from_slice` of a run-time length
/// calls `memcpy` (5 % of a SlowFast forward went to those calls). Only where the length is
/// known at compile time: otherwise the compiler folds both cases back into one `memcpy`, so
/// callers pass [`LANES`] itself for whole groups (see `Geometry::block_lanes`).
#[inline(always)]
pub(super) fn copy_lanes(dst: &mut [f32], src: &[f32]) {
    match (<&mut [f32; LANES]>::try_from(&mut *dst), <&[f32; LANES]>::try_from(src)) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dst.copy_from_slice(src),
    }
}

/// [`copy_lanes`] into memory that need not be initialised (a fresh output buffer).
#[inline(always)]
pub(super) fn write_lanes(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    match (<&mut [MaybeUninit<f32>; LANES]>::try_from(&mut *dst), <&[f32; LANES]>::try_from(src)) {
        (Ok(d), Ok(s)) => *d = s.map(MaybeUninit::new),
        _ => dst.iter_mut().zip(src).for_each(|(d, &s)| {
            d.write(s);
        }),
    }
}

/// Where consecutive matrices of `len` values start in a block's `V` or `M` scratch: `len` values
/// apart plus one cache line. Without the line the matrices of every layer here start a multiple
/// of 4 KiB apart, so the transforms' 36 streams (one per matrix) all map to the same cache sets
/// and evict each other. One layer alone, one thread, best of 40: 32 → 32 channels at 32×16²
/// 1.33 → 1.11–1.19 ms, 128 → 128 at 4×32² 4.86–4.99 → 4.44 ms; no change at 16² and 8², nor
/// for the six matrices along time ([`super::temporal`]), which share this layout, as do the fast
/// stem's eight transformed frames ([`super::direct`]).
pub(super) fn spaced(len: usize) -> usize {
    len + 16
}

/// The products `M_ξ = V_ξ · U_ξ` of a block, for every ξ: `v` holds the `rows × c` matrices
/// `V_ξ`, `u` the `c × o` matrices `U_ξ`, `m` receives the `rows × o` matrices `M_ξ`, each
/// matrix of `v` and `m` [`spaced`] from the one before. A caller with `threads > 1` has every
/// thread to itself (small frames make few blocks): its products then run side by side, each
/// single-threaded, rather than splitting each small product.
pub(super) fn products(
    v: &[f32],
    u: &Matrices,
    m: &mut [f32],
    (rows, c, o): (usize, usize, usize),
    threads: usize,
) {
    let product = |(xi, m): (usize, &mut [f32])| {
        let a = MatRef::dense(&v[xi * spaced(rows * c)..][..rows * c], rows, c);
        matmul(&mut m[..rows * o], a, u.get(xi), false, 1);
    };
    if threads > 1 {
        m.par_chunks_mut(spaced(rows * o)).enumerate().for_each(product);
    } else {
        m.chunks_mut(spaced(rows * o)).enumerate().for_each(product);
    }
}

/// `Bᵀ` applied to six vectors (input transform, one axis).
#[inline(always)]
pub(super) fn bt(d: &[[f32; LANES]; 6]) -> [[f32; LANES]; 6] {
    let mut r = [[0f32; LANES]; 6];
    for l in 0..LANES {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        r[0][l] = 4.0 * d0 - 5.0 * d2 + d4;
        r[1][l] = -4.0 * (d1 + d2) + d3 + d4;
        r[2][l] = 4.0 * (d1 - d2) - d3 + d4;
        r[3][l] = 2.0 * (d3 - d1) + d4 - d2;
        r[4][l] = 2.0 * (d1 - d3) + d4 - d2;
        r[5][l] = 4.0 * d1 - 5.0 * d3 + d5;
    }
    r
}

/// `Aᵀ` applied to six vectors (output transform, one axis): four results.
#[inline(always)]
pub(super) fn at(m: &[[f32; LANES]; 6]) -> [[f32; LANES]; 4] {
    let mut r = [[0f32; LANES]; 4];
    for l in 0..LANES {
        let [m0, m1, m2, m3, m4, m5] = [m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]];
        let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
        r[0][l] = m0 + s12 + s34;
        r[1][l] = d12 + 2.0 * d34;
        r[2][l] = s12 + 4.0 * s34;
        r[3][l] = d12 + 8.0 * d34 + m5;
    }
    r
}

/// `G` (6×3) of F(4×4, 3×3).
pub(super) const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Transforms the `[9·C, O]` weight (rows in (h, w, c) order) into `U`: 36 matrices `[C, O]`.
/// `U_ab = Σ_ij G[a][i]·G[b][j]·W_ij`, where `W_ij` is tap (i, j)'s contiguous `[C, O]` block.
pub(crate) fn transform_weight(weight: &[f32], c: usize, o: usize) -> Vec<f32> {
    let mut u = vec![0f32; 36 * c * o];
    u.par_chunks_mut(c * o).enumerate().for_each(|(xi, u)| {
        let (a, b) = (xi / 6, xi % 6);
        let mut acc = vec![0f64; c * o];
        for (tap, w) in weight.chunks_exact(c * o).enumerate() {
            let coef = G[a][tap / 3] * G[b][tap % 3];
            if coef != 0.0 {
                acc.iter_mut().zip(w).for_each(|(s, &w)| *s += coef * w as f64);
            }
        }
        u.iter_mut().zip(&acc).for_each(|(u, &s)| *u = s as f32);
    });
    u
}

/// Convolves `x` (dims `d`) with the transformed weight `u` into `out` (same frame size, `o`
/// channels), writing every value.
pub(crate) fn forward(
    u: &Matrices,
    x: &[f32],
    d: Dims,
    o: usize,
    out: &mut [MaybeUninit<f32>],
    epilogue: &Epilogue,
) {
    let c = d.c;
    let (tiles_y, tiles_x) = (d.h.div_ceil(4), d.w.div_ceil(4));
    let tile_rows = d.n * d.t * tiles_y;
    // Tiles per block: V and M of a block in about 2 MiB, but at least 64 rows for the products.
    let target = ((1usize << 19) / (36 * (c + o))).clamp(64, 1024);
    let per_block = (target / tiles_x).max(1);
    // First output row of tile-row g (image g / tiles_y, pixel rows 4·(g % tiles_y) ..); one past
    // the last tile-row, the end of the output.
    let first_row = |g: usize| {
        let (img, ty) = (g / tiles_y, g % tiles_y);
        (img * d.h + 4 * ty) * d.w
    };
    let mut blocks = Vec::new();
    let mut rest = out;
    for g0 in (0..tile_rows).step_by(per_block) {
        let g1 = (g0 + per_block).min(tile_rows);
        let (head, tail) = rest.split_at_mut((first_row(g1) - first_row(g0)) * o);
        blocks.push((g0..g1, head));
        rest = tail;
    }
    let geometry = Geometry { d, o, tiles_y, tiles_x };
    let run = |(g, y): (Range<usize>, &mut [MaybeUninit<f32>]), threads: usize| {
        let rows = first_row(g.start)..first_row(g.start) + y.len() / o;
        geometry.block(u, x, g, y, threads);
        // SAFETY: the block's output transform wrote every pixel of its rows: each lies in one of
        // its tiles.
        epilogue.apply(unsafe { super::assume_written(y) }, rows, o);
    };
    run_tasks(blocks, 2 * super::threads(), run);
}

struct Geometry {
    d: Dims,
    o: usize,
    tiles_y: usize,
    tiles_x: usize,
}

impl Geometry {
    /// Tile-rows `g` into `y`, the contiguous output rows they cover, every value written.
    fn block(&self, u: &Matrices, x: &[f32], g: Range<usize>, y: &mut [MaybeUninit<f32>], threads: usize) {
        if self.d.c.is_multiple_of(LANES) && self.o.is_multiple_of(LANES) {
            self.block_lanes::<true>(u, x, g, y, threads)
        } else {
            self.block_lanes::<false>(u, x, g, y, threads)
        }
    }

    /// [`Self::block`]; `FULL`: both channel counts are whole groups of [`LANES`]. The copies then
    /// have a length known at compile time and become single vector moves; with a run-time length
    /// (even one that is [`LANES`] at run time) the compiler merges both cases of [`copy_lanes`]
    /// into a `memcpy` call per group, which took a sixth of a 64-channel layer's time.
    fn block_lanes<const FULL: bool>(
        &self,
        u: &Matrices,
        x: &[f32],
        g: Range<usize>,
        y: &mut [MaybeUninit<f32>],
        threads: usize,
    ) {
        let Geometry { d, o, tiles_y, tiles_x } = *self;
        let lanes_from = |c0: usize, c: usize| if FULL { LANES } else { LANES.min(c - c0) };
        let c = d.c;
        let nt = g.len() * tiles_x;
        let (sv, sm) = (spaced(nt * c), spaced(nt * o));
        // Every value of both is read only after it is written: no clearing between blocks.
        super::with_scratch([36 * sv, 36 * sm], |v, m| {
            let tiles = || g.clone().flat_map(|r| (0..tiles_x).map(move |tx| (r / tiles_y, r % tiles_y, tx)));
            // Input transform: V[ξ][tile][c].
            for (i, (img, ty, tx)) in tiles().enumerate() {
                let frame = &x[img * d.h * d.w * c..(img + 1) * d.h * d.w * c];
                // The patch's positions in the padding stay zero for every group of channels, the
                // others are overwritten by each: zeroed once a tile, not once a group.
                let mut p = [[[0f32; LANES]; 6]; 6];
                for c0 in (0..c).step_by(LANES) {
                    let lanes = lanes_from(c0, c);
                    for (k, row) in p.iter_mut().enumerate() {
                        let Some(yi) = (4 * ty + k).checked_sub(1).filter(|&y| y < d.h) else { continue };
                        for (j, px) in row.iter_mut().enumerate() {
                            let Some(xi) = (4 * tx + j).checked_sub(1).filter(|&x| x < d.w) else { continue };
                            let s = (yi * d.w + xi) * c + c0;
                            copy_lanes(&mut px[..lanes], &frame[s..s + lanes]);
                        }
                    }
                    // Columns, then rows.
                    let mut q = [[[0f32; LANES]; 6]; 6];
                    for j in 0..6 {
                        let col = bt(&std::array::from_fn(|k| p[k][j]));
                        (0..6).for_each(|a| q[a][j] = col[a]);
                    }
                    for (a, q) in q.iter().enumerate() {
                        for (b, vals) in bt(q).iter().enumerate() {
                            let s = (a * 6 + b) * sv + i * c + c0;
                            copy_lanes(&mut v[s..s + lanes], &vals[..lanes]);
                        }
                    }
                }
            }
            // 36 products: M_ξ[tile][o] = V_ξ · U_ξ.
            products(v, u, m, (nt, c, o), threads);
            // Output transform into the block's rows.
            let origin = {
                let (img, ty) = (g.start / tiles_y, g.start % tiles_y);
                img * d.h * d.w + 4 * ty * d.w
            };
            for (i, (img, ty, tx)) in tiles().enumerate() {
                for o0 in (0..o).step_by(LANES) {
                    let lanes = lanes_from(o0, o);
                    let mut s = [[[0f32; LANES]; 6]; 6];
                    for (xi, s) in s.iter_mut().flatten().enumerate() {
                        let src = xi * sm + i * o + o0;
                        copy_lanes(&mut s[..lanes], &m[src..src + lanes]);
                    }
                    let mut r = [[[0f32; LANES]; 6]; 4];
                    for b in 0..6 {
                        let col = at(&std::array::from_fn(|a| s[a][b]));
                        (0..4).for_each(|a| r[a][b] = col[a]);
                    }
                    for (a, r) in r.iter().enumerate() {
                        let yo = 4 * ty + a;
                        if yo >= d.h {
                            break;
                        }
                        for (b, vals) in at(r).iter().enumerate() {
                            let xo = 4 * tx + b;
                            if xo >= d.w {
                                break;
                            }
                            let dst = ((img * d.h + yo) * d.w + xo - origin) * o + o0;
                            write_lanes(&mut y[dst..dst + lanes], &vals[..lanes]);
                        }
                    }
                }
            }
        });
    }
}
