//! Row-major matrix products on `f32` slices through the `gemm` crate, the kernel candle's own
//! matmul uses, called directly so convolutions can hand it strided views of their buffers and
//! accumulate into an existing output without copies.

use std::mem::MaybeUninit;

use gemm::Parallelism;

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

    fn check(&self) {
        assert!(self.cols <= self.stride || self.rows <= 1);
        assert!(self.rows == 0 || (self.rows - 1) * self.stride + self.cols <= self.data.len());
    }
}

/// `dst[m×n] (+)= a[m×k] · b[k×n]`, with `dst` dense row-major (row stride `n`). Accumulates into
/// `dst` when `accumulate`, overwrites it otherwise.
pub(crate) fn matmul(dst: &mut [f32], a: MatRef, b: MatRef, accumulate: bool, threads: usize) {
    assert_eq!(dst.len(), a.rows * b.cols, "output size");
    // SAFETY: `dst` is a unique borrow of exactly the m×n values the product writes.
    unsafe { product(dst.as_mut_ptr(), a, b, accumulate, threads) }
}

/// `dst[m×n] = a[m×k] · b[k×n]` into memory that need not be initialised (a fresh output buffer:
/// zeroing it first costs a pass over memory the product overwrites anyway). Returns `dst`,
/// every value written.
pub(crate) fn matmul_into<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    a: MatRef,
    b: MatRef,
    threads: usize,
) -> &'d mut [f32] {
    assert_eq!(dst.len(), a.rows * b.cols, "output size");
    // SAFETY: as in `matmul`; `f32` and `MaybeUninit<f32>` have the same layout.
    unsafe { product(dst.as_mut_ptr().cast(), a, b, false, threads) };
    // SAFETY: not accumulating, the product writes all m×n values without reading them (zeros
    // for an empty inner dimension).
    unsafe { super::assume_written(dst) }
}

/// The product behind [`matmul`] and [`matmul_into`].
///
/// # Safety
/// `dst` points to `a.rows × b.cols` writable `f32`s, initialised when `accumulate`, that
/// overlap neither input.
unsafe fn product(dst: *mut f32, a: MatRef, b: MatRef, accumulate: bool, threads: usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    if threads == 1 && super::few_rows::applies(m, n) {
        // SAFETY: the caller vouches for `dst`; `a` and `b` were checked above.
        return unsafe { super::few_rows::product(dst, a, b, accumulate) };
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
