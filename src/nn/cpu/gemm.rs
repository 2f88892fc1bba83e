//! Row-major matrix products on `f32` slices through the `gemm` crate, the kernel candle's own
//! matmul uses, called directly so convolutions can hand it strided views of their buffers and
//! accumulate into an existing output without copies.

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
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions");
    assert_eq!(dst.len(), m * n, "output size");
    a.check();
    b.check();
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element the strides reach inside its slice; `dst` is a
    // unique borrow, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
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
