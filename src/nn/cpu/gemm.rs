//! Row-major matrix products on `f32` slices: through the panel kernel ([`super::panels`]) where
//! it applies (AVX-512 or AVX2 with FMA, outputs of whole registers), otherwise through the `gemm`
//! crate, the kernel candle's own matmul uses, called directly so convolutions can hand it strided
//! views of their buffers and accumulate into an existing output without copies.

use std::mem::MaybeUninit;
use std::ops::Range;

use gemm::Parallelism;

use super::conv::Epilogue;
use super::panels::{self, Finish, PanelRef, Panels};

/// A row-major matrix view: `rows × cols` elements, row `i` starting at `data[i * stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense `rows × cols` matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, stride: cols }
    }

    /// Asserts that every row lies inside the data (and rows do not overlap).
    pub(super) fn check(&self) {
        assert!(self.cols <= self.stride || self.rows <= 1);
        assert!(self.rows == 0 || (self.rows - 1) * self.stride + self.cols <= self.data.len());
    }
}

/// A layer's weight matrices, `count` of `[k, n]`: in panels where the panel kernel applies,
/// row-major otherwise.
#[derive(Clone, Debug)]
pub(crate) enum Matrices {
    Dense { data: Vec<f32>, k: usize, n: usize },
    Panels(Panels),
}

impl Matrices {
    /// `count` row-major `[k, n]` matrices laid end to end in `dense`.
    pub fn new(dense: Vec<f32>, count: usize, k: usize, n: usize) -> Self {
        assert_eq!(dense.len(), count * k * n, "weight size");
        if panels::applies(n) {
            Matrices::Panels(Panels::pack(dense, count, k, n))
        } else {
            Matrices::Dense { data: dense, k, n }
        }
    }

    /// Matrix `i`.
    pub fn get(&self, i: usize) -> Weight<'_> {
        match self {
            Matrices::Dense { data, k, n } => {
                Weight::Dense(MatRef::dense(&data[i * k * n..][..k * n], *k, *n))
            }
            Matrices::Panels(p) => Weight::Panels(p.matrix(i)),
        }
    }
}

/// The right-hand side of a product: a weight matrix in either layout.
#[derive(Clone, Copy)]
pub(crate) enum Weight<'a> {
    Dense(MatRef<'a>),
    Panels(PanelRef<'a>),
}

impl Weight<'_> {
    fn cols(&self) -> usize {
        match self {
            Weight::Dense(b) => b.cols,
            Weight::Panels(p) => p.n,
        }
    }
}

/// `dst[m×n] (+)= a[m×k] · w[k×n]`, with `dst` dense row-major (row stride `n`). Accumulates into
/// `dst` when `accumulate`, overwrites it otherwise.
pub(crate) fn matmul(dst: &mut [f32], a: MatRef, w: Weight, accumulate: bool, threads: usize) {
    assert_eq!(dst.len(), a.rows * w.cols(), "output size");
    let finish = if accumulate { Finish::Add } else { Finish::Write };
    // SAFETY: `dst` is a unique borrow of exactly the m×n values the product writes.
    unsafe { product(dst.as_mut_ptr(), a, w, finish, threads) }
}

/// `dst[m×n] = a[m×k] · w[k×n]` into memory that need not be initialised (a fresh output buffer:
/// zeroing it first costs a pass over memory the product overwrites anyway). Returns `dst`,
/// every value written.
pub(crate) fn matmul_into<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    a: MatRef,
    w: Weight,
    threads: usize,
) -> &'d mut [f32] {
    assert_eq!(dst.len(), a.rows * w.cols(), "output size");
    // SAFETY: as in `matmul`; `f32` and `MaybeUninit<f32>` have the same layout.
    unsafe { product(dst.as_mut_ptr().cast(), a, w, Finish::Write, threads) };
    // SAFETY: not accumulating, the product writes all m×n values without reading them (zeros
    // for an empty inner dimension).
    unsafe { super::assume_written(dst) }
}

/// The largest inner dimension for which the panel kernel adds a residual itself (see
/// [`matmul_finished`]).
const FUSED_RESIDUAL_MAX_K: usize = 8;

/// [`matmul_into`] finished by `epilogue`, `dst` holding rows `rows` of the layer's output. The
/// panel kernel applies a bias and ReLU to each block as it leaves the registers. A residual it
/// adds too only where the inner dimension is tiny; elsewhere the residual is added in a pass
/// over `dst` after the product, like the whole epilogue with the `gemm` crate. Read inside the
/// kernel, the residual's rows arrive in scattered pieces, one panel's width at a time, and the
/// product waits on them: one layer alone, one thread, 4×56² 64 → 256 channels 6.9 ms fused
/// against 5.8 ms in a pass after (4×28², 128 → 512: 5.3 against 4.7; 32×32², 16 → 64: 1.3–1.8
/// against 1.5). With 8 inputs a row (SlowFast's fast pathway, the last 1×1×1 of each res2
/// block) the product is little more than its stores, and the pass after doubled the layer's
/// traffic: 32×64², 8 → 32, 1.4–1.9 ms fused against 2.4–2.6 ms.
pub(crate) fn matmul_finished<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    a: MatRef,
    w: Weight,
    (epilogue, rows): (&Epilogue, Range<usize>),
    threads: usize,
) -> &'d mut [f32] {
    let n = w.cols();
    assert_eq!((dst.len(), rows.len()), (a.rows * n, a.rows), "output size");
    let fuse_residual = epilogue.residual.is_none() || a.cols <= FUSED_RESIDUAL_MAX_K;
    if let (Weight::Panels(_), true) = (w, fuse_residual) {
        let finish = Finish::Epilogue {
            bias: epilogue.bias,
            residual: epilogue.residual.map(|r| &r[rows.start * n..rows.end * n]),
            relu: epilogue.relu,
        };
        // SAFETY: as in `matmul_into`: not accumulating, every value is written.
        unsafe {
            product(dst.as_mut_ptr().cast(), a, w, finish, threads);
            return super::assume_written(dst);
        }
    }
    let y = matmul_into(dst, a, w, threads);
    epilogue.apply(y, rows, n);
    y
}

/// The product behind [`matmul`], [`matmul_into`] and [`matmul_finished`]; [`Finish::Epilogue`]
/// only with panels.
///
/// # Safety
/// `dst` points to `a.rows × w.cols()` writable `f32`s, initialised for [`Finish::Add`], that
/// overlap neither input.
unsafe fn product(dst: *mut f32, a: MatRef, w: Weight, finish: Finish, threads: usize) {
    let b = match w {
        // SAFETY: the caller vouches for `dst`; panels exist only where the CPU runs them.
        Weight::Panels(p) => return unsafe { panels::product(dst, a, p, finish, threads) },
        Weight::Dense(b) => b,
    };
    let accumulate = match finish {
        Finish::Write => false,
        Finish::Add => true,
        Finish::Epilogue { .. } => unreachable!("the epilogue is fused only by the panel kernel"),
    };
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element the strides reach inside its slice; the
    // caller vouches for `dst`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            1,
            a.stride as isize,
            b.data.as_ptr(),
            1,
            b.stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}
