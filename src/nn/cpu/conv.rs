//! 3-D convolution on channels-last `f32` activations as tiled matrix products.
//!
//! The weight arrives as one `[K, O]` matrix, `K = kt·kh·kw·C` in (t, h, w, c) order, and is
//! kept in the layout its algorithm reads ([`Weights`]): the matrices of its products, packed for
//! the panel kernel where it applies ([`super::gemm::Matrices`]), or a layout of its own:
//! * [`Algo::Shifted`]: (k,1,1) kernels with stride 1 and "same" padding, 1×1×1 included. Output
//!   frame `t` is `Σ_j X[t + j − p] · W_j`; in channels-last memory the rows of frames
//!   `t + j − p` are the output rows shifted by whole frames, so each tap is one product straight
//!   from the input buffer. No gather, no copy.
//!   (3,1,1) kernels with padding 1 and enough output channels take [`Algo::Temporal`] instead.
//! * [`Algo::Temporal`]: (3,1,1), stride 1, padding 1, at least
//!   [`MIN_OUT`](super::temporal::MIN_OUT) output channels: Winograd F(4, 3) along time, see
//!   [`super::temporal`].
//! * [`Algo::Winograd`]: 3×3, stride 1, padding 1: see [`super::winograd`].
//! * [`Algo::Direct`]: a spatial window from at most [`MAX_IN`](super::direct::MAX_IN) input
//!   channels to at most [`MAX_OUT`](super::direct::MAX_OUT) outputs (SlowFast's fast stem, with
//!   Winograd F(4, 5) along time, and the fast pathway's 8-channel 3×3s), where the CPU has the
//!   kernels' instructions: see [`super::direct`].
//! * [`Algo::Polyphase`]: a 5-tap kernel along time with stride 2 and padding 2 and a spatial
//!   window (I3D's 5×7×7 stem): Winograd F(4, 3) on the even and the odd input frames, see
//!   [`super::polyphase`].
//! * [`Algo::Frames`]: other kernels with a temporal extent and a spatial window (3×3×3 inflated
//!   kernels, and SlowFast's fast stem where [`Algo::Direct`] is not available): see
//!   [`super::frames`].
//! * [`Algo::Im2col`]: everything else (3×3, 7×7, strided 1×1). Each tile of output rows gathers
//!   its `K` input values per row ([`super::im2col`]) into a scratch matrix, then one product.
//!
//! All finish each tile with the [`Epilogue`] (bias, residual, ReLU) while it is in cache; where
//! the panel kernel runs a tile's only product, it applies the bias and ReLU itself as the
//! results leave its registers, and the residual too where the product's inner dimension is
//! tiny ([`super::gemm::matmul_finished`]).

use std::mem::MaybeUninit;
use std::ops::Range;

use super::Dims;
use super::gemm::{MatRef, Matrices, matmul, matmul_finished, matmul_into};
use super::im2col::gather;
use super::tiles::{for_each_tile, tile_rows};
use crate::nn::Axis;

/// What runs after the product, per output row: `y = max(y + bias + residual, 0)` (each part
/// optional), matching `relu(BN(conv(x)) + identity)` with the BatchNorm folded into `bias`.
pub(crate) struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub residual: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    /// Applies the epilogue to output rows `rows` held in `tile` (`width` values a row).
    pub fn apply(&self, tile: &mut [f32], rows: Range<usize>, width: usize) {
        let residual = self.residual.map(|r| &r[rows.start * width..rows.end * width]);
        let relu = |y: f32| if self.relu { y.max(0.0) } else { y };
        // One pass per row whatever is fused (this runs over every output value of the network).
        for (i, row) in tile.chunks_exact_mut(width).enumerate() {
            let residual = residual.map(|r| &r[i * width..(i + 1) * width]);
            match (self.bias, residual) {
                (Some(b), Some(r)) => {
                    row.iter_mut().zip(b).zip(r).for_each(|((y, b), r)| *y = relu(*y + b + r))
                }
                (Some(b), None) => row.iter_mut().zip(b).for_each(|(y, b)| *y = relu(*y + b)),
                (None, Some(r)) => row.iter_mut().zip(r).for_each(|(y, r)| *y = relu(*y + r)),
                (None, None) => row.iter_mut().for_each(|y| *y = relu(*y)),
            }
        }
    }
}

/// How a convolution is computed; fixed when the layer is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algo {
    Shifted,
    Temporal,
    Winograd,
    Direct,
    Polyphase,
    Frames,
    Im2col,
}

/// A convolution's weight in the layout its algorithm reads.
#[derive(Clone, Debug)]
pub(crate) enum Weights {
    /// The matrices of its products, `[C, O]` or `[K, O]`: for [`Algo::Shifted`] one a temporal
    /// tap, for [`Algo::Im2col`] the whole `[kt·kh·kw·C, O]`, for [`Algo::Winograd`] the 36
    /// transformed `[C, O]`, for [`Algo::Temporal`] the 6, for [`Algo::Polyphase`] the 11
    /// `[kh·kw·C, O]`.
    Products(Matrices),
    /// For [`Algo::Frames`] `[kh·kw·C, kt·O]`, the temporal taps side by side (see
    /// [`super::frames`]); for [`Algo::Direct`] `[K, 8]`, the columns padded with zeros (its 5
    /// taps along time transformed into 8 where F(4, 5) applies).
    Raw(Vec<f32>),
}

impl Weights {
    /// The product matrices of the algorithms that have them.
    pub fn products(&self) -> &Matrices {
        match self {
            Weights::Products(m) => m,
            Weights::Raw(_) => unreachable!("this algorithm keeps a raw weight"),
        }
    }

    /// The raw weight of [`Algo::Frames`] and [`Algo::Direct`].
    pub fn raw(&self) -> &[f32] {
        match self {
            Weights::Raw(w) => w,
            Weights::Products(_) => unreachable!("this algorithm keeps product matrices"),
        }
    }
}

/// A convolution's geometry and its weight.
#[derive(Clone, Debug)]
pub(crate) struct CpuConv {
    pub axes: [Axis; 3],
    pub in_channels: usize,
    pub out_channels: usize,
    pub weight: Weights,
    pub algo: Algo,
}

impl CpuConv {
    /// `weight` is the `[kt·kh·kw·C, O]` matrix, rows in (t, h, w, c) order.
    pub fn new(weight: Vec<f32>, axes: [Axis; 3], in_channels: usize, out_channels: usize) -> Self {
        let [t, h, w] = axes;
        let unit = |a: Axis| a.stride == 1 && a.dilation == 1;
        let shifted = unit(t) && h.is_identity() && w.is_identity() && 2 * t.padding + 1 == t.kernel;
        let window = h.kernel > 1 || w.kernel > 1;
        let winograd = t.is_identity() && [h, w].iter().all(|a| *a == Axis::new(3, 1, 1));
        let direct = window
            && in_channels <= super::direct::MAX_IN
            && out_channels <= super::direct::MAX_OUT
            && axes.iter().all(|a| a.dilation == 1)
            && super::direct::available();
        let algo = if shifted && t.kernel == 3 && out_channels >= super::temporal::MIN_OUT {
            Algo::Temporal
        } else if shifted {
            Algo::Shifted
        } else if direct {
            Algo::Direct
        } else if winograd {
            Algo::Winograd
        } else if window && super::polyphase::applies(t) {
            Algo::Polyphase
        } else if t.kernel > 1 && window && t.dilation == 1 {
            Algo::Frames
        } else {
            Algo::Im2col
        };
        let (c, o) = (in_channels, out_channels);
        // The products' matrices and the rows of each.
        let products = |matrices: Vec<f32>, k: usize| {
            let count = matrices.len() / (k * o).max(1);
            Weights::Products(Matrices::new(matrices, count, k, o))
        };
        let weight = match algo {
            Algo::Polyphase => products(super::polyphase::transform_weight(&weight), h.kernel * w.kernel * c),
            Algo::Frames => Weights::Raw(super::frames::stack_taps(&weight, t, o)),
            Algo::Direct => Weights::Raw(super::direct::prepare_weight(&weight, t, o)),
            Algo::Winograd => products(super::winograd::transform_weight(&weight, c, o), c),
            Algo::Temporal => products(super::temporal::transform_weight(&weight, c, o), c),
            Algo::Shifted => products(weight, c),
            Algo::Im2col => products(weight, window_len(axes, c)),
        };
        CpuConv { axes, in_channels, out_channels, weight, algo }
    }

    /// Output dims for input dims `d`.
    pub fn out_dims(&self, d: Dims) -> crate::Result<Dims> {
        let [t, h, w] = self.axes;
        Ok(Dims { n: d.n, t: t.out_len(d.t)?, h: h.out_len(d.h)?, w: w.out_len(d.w)?, c: self.out_channels })
    }

    /// Convolves `x` (dims `d`) into a new buffer of dims [`Self::out_dims`].
    pub fn forward(&self, x: &[f32], d: Dims, epilogue: &Epilogue) -> crate::Result<(Vec<f32>, Dims)> {
        assert_eq!(d.c, self.in_channels, "input channels");
        let od = self.out_dims(d)?;
        let width = self.out_channels;
        let len = od.rows() * width;
        let out = match self.algo {
            Algo::Shifted | Algo::Im2col => self.tiled(x, (d, od), epilogue),
            Algo::Direct => zeroed(len, |out| {
                super::direct::forward(self.weight.raw(), self.axes, x, (d, od), out, epilogue)
            }),
            // SAFETY: the polyphase kernel writes every output value.
            Algo::Polyphase => unsafe {
                written(len, |out| {
                    super::polyphase::forward(self.weight.products(), self.axes, x, (d, od), out, epilogue)
                })
            },
            Algo::Frames => zeroed(len, |out| super::frames::forward(self, x, d, od, out, epilogue)),
            // SAFETY: both Winograd kernels write every output value.
            Algo::Winograd => unsafe {
                written(len, |out| {
                    super::winograd::forward(self.weight.products(), x, d, width, out, epilogue)
                })
            },
            // SAFETY: as above.
            Algo::Temporal => unsafe {
                written(len, |out| {
                    super::temporal::forward(self.weight.products(), x, d, width, out, epilogue)
                })
            },
        };
        Ok((out, od))
    }

    /// [`Algo::Shifted`] and [`Algo::Im2col`]: row tiles, each written by its first product, so the
    /// buffer is not zeroed first (that would be one more pass over the largest outputs, 2.5 % of
    /// the 30-view protocol).
    fn tiled(&self, x: &[f32], (d, od): (Dims, Dims), epilogue: &Epilogue) -> Vec<f32> {
        let width = self.out_channels;
        let k = window_len(self.axes, self.in_channels);
        let len = od.rows() * width;
        // SAFETY: the tiles cover all `len` values, and each tile comes back written.
        unsafe {
            written(len, |tiles| {
                for_each_tile(tiles, width, od.sample_rows(), tile_rows(k, width), |rows, y, threads| {
                    match self.algo {
                        Algo::Shifted => self.shifted_tile(x, d, (rows, epilogue), y, threads),
                        _ => super::with_scratch([rows.len() * k, 0], |cols, _| {
                            gather(x, d, od, self.axes, rows.clone(), cols);
                            let cols = MatRef::dense(cols, rows.len(), k);
                            matmul_finished(y, cols, self.weight.products().get(0), (epilogue, rows), threads)
                        }),
                    };
                })
            })
        }
    }

    /// Output rows `rows` (within one sample) of a (k,1,1) stride-1 "same" convolution into `y`,
    /// finished by `epilogue` and returned written.
    fn shifted_tile<'y>(
        &self,
        x: &[f32],
        d: Dims,
        (rows, epilogue): (Range<usize>, &Epilogue),
        y: &'y mut [MaybeUninit<f32>],
        threads: usize,
    ) -> &'y mut [f32] {
        let (c, o) = (self.in_channels, self.out_channels);
        let frame = (d.h * d.w) as isize;
        let sample = d.sample_rows();
        let base = rows.start / sample * sample;
        let (l0, l1) = ((rows.start - base) as isize, (rows.end - base) as isize);
        let [at, ..] = self.axes;
        // Tap `j`: the input rows it reads and the tile's values it adds to, if it reaches any.
        let tap = |j: usize| {
            let shift = (j as isize - at.padding as isize) * frame;
            let (lo, hi) = (l0.max(-shift), l1.min(sample as isize - shift));
            (lo < hi).then(|| {
                let src = (base as isize + lo + shift) as usize * c;
                let a = MatRef { data: &x[src..], rows: (hi - lo) as usize, cols: c, stride: c };
                (a, (lo - l0) as usize * o..(hi - l0) as usize * o)
            })
        };
        let w = |j: usize| self.weight.products().get(j);
        // The centre tap covers every row, so it writes the tile; the others add where they reach.
        let (a, centre) = tap(at.padding).expect("tiles are not empty");
        assert_eq!(centre, 0..y.len(), "the centre tap covers the tile");
        if at.kernel == 1 {
            return matmul_finished(y, a, w(0), (epilogue, rows), threads);
        }
        let y = matmul_into(y, a, w(at.padding), threads);
        for j in (0..at.kernel).filter(|&j| j != at.padding) {
            if let Some((a, reach)) = tap(j) {
                matmul(&mut y[reach], a, w(j), true, threads);
            }
        }
        epilogue.apply(y, rows, o);
        y
    }
}

/// Values one output position's window reads, `K = kt·kh·kw·C`.
fn window_len(axes: [Axis; 3], channels: usize) -> usize {
    channels * axes.iter().map(|a| a.kernel).product::<usize>()
}

/// A buffer of `len` values that `fill` writes, uninitialised before (for kernels that overwrite
/// their whole output, which need not be zeroed first).
///
/// # Safety
/// `fill` must write every one of the `len` values.
unsafe fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` values (the caller's promise).
    unsafe { out.set_len(len) };
    out
}

/// A zeroed buffer of `len` values, filled by `fill` (kernels that add into their output, or
/// write only some of it per pass).
fn zeroed(len: usize, fill: impl FnOnce(&mut [f32])) -> Vec<f32> {
    let mut out = vec![0f32; len];
    fill(&mut out);
    out
}
