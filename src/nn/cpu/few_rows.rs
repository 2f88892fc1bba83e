//! Matrix products with few rows: Winograd's products on the smallest frames (16 rows at 7² and
//! 8², four tiles a frame × four frames), where the `gemm` crate runs at a third of its peak.
//!
//! Such a product reads a weight of up to 1 MiB (512 × 512) for only 16 rows, and the weights of
//! a layer (36 of them, 36 MiB) do not stay in the cache from one view to the next, so the
//! product is a stream from memory. The `gemm` crate tiles it for reuse that is not there: 512 →
//! 512 channels, 36 products, weights from memory, one thread: 9.3 ms, 33 GFLOP/s (80 GFLOP/s with
//! the weights in the cache). Here each pass reads one 16-column strip of the weight once per
//! four rows, with four rows × 16 columns accumulating in registers: 5.9 ms, 52 GFLOP/s.
//! With 64 rows the `gemm` crate is faster again (81 against 53 GFLOP/s), so [`applies`] stops at
//! [`MAX_ROWS`].
//!
//! AVX2 and FMA only; other CPUs keep the `gemm` crate. Where the CPU has AVX-512, products whose
//! outputs fill whole panels (16 columns or a multiple) take [`super::panels`] instead, whatever
//! their rows, so this kernel serves CPUs with AVX2 but not AVX-512.

use super::gemm::MatRef;

/// The most rows a product may have to take this kernel (32 rows: 59 against 46 GFLOP/s).
pub(crate) const MAX_ROWS: usize = 32;

/// Output columns per strip: two registers.
const STRIP: usize = 16;

/// True when an `m × n` product takes [`product`]: few rows, whole strips, AVX2 and FMA.
pub(crate) fn applies(m: usize, n: usize) -> bool {
    m <= MAX_ROWS && n.is_multiple_of(STRIP) && super::avx2_fma()
}

/// `dst[m×n] (+)= a[m×k] · b[k×n]`, `dst` dense row-major; only where [`applies`].
///
/// # Safety
/// `dst` points to `a.rows × b.cols` writable `f32`s, initialised when `accumulate`, that
/// overlap neither input.
pub(crate) unsafe fn product(dst: *mut f32, a: MatRef, b: MatRef, accumulate: bool) {
    assert!(applies(a.rows, b.cols), "the few-rows kernel does not apply");
    assert_eq!(a.cols, b.rows, "inner dimensions");
    a.check();
    b.check();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`applies`); the caller vouches for `dst`.
    unsafe {
        kernel::product(dst, a, b, accumulate)
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps,
        _mm256_storeu_ps,
    };

    use super::STRIP;
    use crate::nn::cpu::gemm::MatRef;

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn product(dst: *mut f32, a: MatRef, b: MatRef, accumulate: bool) {
        let (m, n) = (a.rows, b.cols);
        for j in (0..n).step_by(STRIP) {
            let mut i = 0;
            while i < m {
                // SAFETY (all four): rows `i..i + R` and columns `j..j + STRIP` are inside the
                // matrices (`MatRef::check` in the caller, `n` a multiple of STRIP).
                i += match m - i {
                    1 => unsafe { rows::<1>(dst, a, b, (i, j), accumulate) },
                    2 => unsafe { rows::<2>(dst, a, b, (i, j), accumulate) },
                    3 => unsafe { rows::<3>(dst, a, b, (i, j), accumulate) },
                    _ => unsafe { rows::<4>(dst, a, b, (i, j), accumulate) },
                };
            }
        }
    }

    /// Rows `i..i + R`, columns `j..j + STRIP` of the product; returns `R`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const R: usize>(
        dst: *mut f32,
        a: MatRef,
        b: MatRef,
        (i, j): (usize, usize),
        accumulate: bool,
    ) -> usize {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let (x, w) = (a.data.as_ptr(), b.data.as_ptr());
        for k in 0..a.cols {
            // SAFETY: row `k` of `b` holds columns `j..j + STRIP`; row `i + r` of `a` holds `k`.
            unsafe {
                let wk = w.add(k * b.stride + j);
                let (w0, w1) = (_mm256_loadu_ps(wk), _mm256_loadu_ps(wk.add(8)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let v = _mm256_broadcast_ss(&*x.add((i + r) * a.stride + k));
                    acc[0] = _mm256_fmadd_ps(v, w0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(v, w1, acc[1]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: row `i + r` of `dst` holds columns `j..j + STRIP`.
            unsafe {
                let y = dst.add((i + r) * b.cols + j);
                let (mut y0, mut y1): (__m256, __m256) = (acc[0], acc[1]);
                if accumulate {
                    y0 = _mm256_add_ps(y0, _mm256_loadu_ps(y));
                    y1 = _mm256_add_ps(y1, _mm256_loadu_ps(y.add(8)));
                }
                _mm256_storeu_ps(y, y0);
                _mm256_storeu_ps(y.add(8), y1);
            }
        }
        R
    }
}

#[cfg(test)]
mod tests {
    use super::{MatRef, applies, product};
    use crate::nn::cpu::test_values as values;

    #[test]
    fn matches_a_plain_product_for_every_row_remainder_with_strides_and_accumulation() {
        if !applies(1, 16) {
            eprintln!("no AVX2/FMA: the kernel never runs here");
            return;
        }
        // Every remainder of rows after the blocks of four (1, 2 and 3), and whole blocks.
        for (m, k, n) in
            [(1, 1, 16), (3, 7, 32), (4, 64, 16), (5, 33, 48), (6, 9, 16), (16, 512, 64), (32, 20, 16)]
        {
            // Both operands are views into wider buffers (row strides beyond their columns).
            let (a_stride, b_stride) = (k + 3, n + 16);
            let (a, b) = (values(m * a_stride, 1), values(k * b_stride, 2));
            let a_ref = MatRef { data: &a, rows: m, cols: k, stride: a_stride };
            let b_ref = MatRef { data: &b, rows: k, cols: n, stride: b_stride };
            let initial = values(m * n, 3);
            for accumulate in [false, true] {
                let mut y = initial.clone();
                // SAFETY: `y` holds m × n initialised values.
                unsafe { product(y.as_mut_ptr(), a_ref, b_ref, accumulate) };
                for (idx, &got) in y.iter().enumerate() {
                    let (i, j) = (idx / n, idx % n);
                    let dot: f64 =
                        (0..k).map(|l| a[i * a_stride + l] as f64 * b[l * b_stride + j] as f64).sum();
                    let want = dot + if accumulate { initial[idx] as f64 } else { 0.0 };
                    assert!(
                        (got as f64 - want).abs() < 1e-5 * (k as f64).sqrt() + 1e-6,
                        "{m}×{k}×{n} at ({i}, {j})"
                    );
                }
            }
        }
        assert!(!applies(super::MAX_ROWS + 1, 16) && !applies(4, 24));
    }
}
