//! Matrix products with weights laid out once, at load, for an AVX-512 kernel, and the
//! convolution's bias and ReLU applied as each block of results leaves the registers.
//!
//! The `gemm` crate copies ("packs") the weight into its own layout on every call and writes its
//! result before the epilogue (bias, residual, ReLU) reads it back. A convolution's weight never changes, so here it
//! is packed once: `[K, N]` becomes panels of [`WIDTH`] columns, each panel's `K` rows of
//! [`WIDTH`] values one after the other. The kernel keeps a block of 12 rows × 32 columns in 24
//! of the 32 AVX-512 registers; every step along `K` loads one row of the panel (two registers)
//! and broadcasts one value of each of the 12 input rows. The activations are read where they lie
//! (any row stride), not copied. Outputs of 16 channels, or an odd number of 16 (the fast
//! pathway's), take panels of [`NARROW`] columns, one register a row.
//!
//! Measured on Zen 4, one thread, each product alone with the weight and input cold, against the
//! `gemm` crate followed by the epilogue (bias and ReLU) on each tile of rows in cache: 784 rows,
//! 256 → 1024: 95 → 106 GFLOP/s; 12 544 rows, 64 → 256: 78 → 89; 64 rows, 256 → 256 (a
//! Winograd product of a 14² frame): 75 → 99; 196 rows, 4608 → 512: 97 → 108. AVX-512 runs as
//! two 256-bit halves on Zen 4, so the peak is that of AVX2; the gain is in what surrounds the
//! multiply-adds: no packing pass, half the instructions per multiply-add, a larger block in
//! registers, and no second pass over the output where there is no residual to add, or where
//! the kernel adds it too (see [`super::gemm::matmul_finished`]).
//!
//! CPUs without AVX-512 keep the `gemm` crate on the plain `[K, N]` weights ([`super::gemm`]).

use rayon::prelude::*;

use super::gemm::MatRef;

/// Columns per panel: two AVX-512 registers.
pub(crate) const WIDTH: usize = 32;

/// Columns per panel where the output is a whole number of registers but not of [`WIDTH`] (the
/// fast pathway's 16 channels): one register. The `gemm` crate ran those products at 30–58
/// GFLOP/s; here, one layer alone, one thread, min of 40 in five alternating rounds, the strided
/// 3×3 16 → 16 at 32×64² takes 0.83–0.88 of its time, the temporal 32 → 16 at 32×64² 0.95, the
/// 64 → 16 at 32×32² and the Winograd 16 → 16 0.96–1.03.
const NARROW: usize = 16;

/// True when products with `n` columns take the kernel: whole panels, on a CPU with AVX-512F.
/// The narrowest outputs (the fast pathway's 8 channels) keep the `gemm` crate.
pub(crate) fn applies(n: usize) -> bool {
    n > 0 && n.is_multiple_of(NARROW) && avx512()
}

/// The panel width for products with `n` columns.
fn panel_width(n: usize) -> usize {
    if n.is_multiple_of(WIDTH) { WIDTH } else { NARROW }
}

fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `count` weight matrices `[k, n]` in panels (see the module docs), matrix after matrix.
#[derive(Clone, Debug)]
pub(crate) struct Panels {
    data: Vec<f32>,
    k: usize,
    n: usize,
}

impl Panels {
    /// Packs `count` dense row-major `[k, n]` matrices laid end to end in `dense`, in place
    /// (a packed matrix fills exactly the space of the dense one, so the load holds one copy of
    /// the weights and one matrix more); only where [`applies`].
    pub fn pack(mut dense: Vec<f32>, count: usize, k: usize, n: usize) -> Self {
        assert!(applies(n), "the panel kernel does not apply");
        assert_eq!(dense.len(), count * k * n, "weight size");
        if k == 0 {
            return Panels { data: dense, k, n };
        }
        let width = panel_width(n);
        let mut rows = vec![0f32; k * n];
        for matrix in dense.chunks_exact_mut(k * n) {
            rows.copy_from_slice(matrix);
            matrix.par_chunks_mut(k * width).enumerate().for_each(|(p, panel)| {
                for (row, dst) in panel.chunks_exact_mut(width).enumerate() {
                    dst.copy_from_slice(&rows[row * n + p * width..][..width]);
                }
            });
        }
        Panels { data: dense, k, n }
    }

    /// Matrix `i`.
    pub fn matrix(&self, i: usize) -> PanelRef<'_> {
        let len = self.k * self.n;
        PanelRef { data: &self.data[i * len..(i + 1) * len], k: self.k, n: self.n }
    }
}

/// One packed `[k, n]` matrix.
#[derive(Clone, Copy)]
pub(crate) struct PanelRef<'a> {
    data: &'a [f32],
    pub k: usize,
    pub n: usize,
}

/// What becomes of the product `a · w` on its way to the output.
#[derive(Clone, Copy)]
pub(crate) enum Finish<'a> {
    /// Written as it is.
    Write,
    /// Added to what the output holds.
    Add,
    /// Written with the bias and the residual added (each if any; row `r` of the product takes
    /// row `r` of the residual, `w.n` values a row), then negatives zeroed if `relu`.
    Epilogue { bias: Option<&'a [f32]>, residual: Option<&'a [f32]>, relu: bool },
}

/// `dst[m×n] = finish(a[m×k] · w[k×n])`, `dst` dense row-major, on `threads` threads.
///
/// # Safety
/// `dst` points to `a.rows × w.n` writable `f32`s, initialised for [`Finish::Add`], that
/// overlap neither input.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub(crate) unsafe fn product(dst: *mut f32, a: MatRef, w: PanelRef, finish: Finish, threads: usize) {
    assert_eq!(a.cols, w.k, "inner dimensions");
    assert!(a.rows == 0 || (a.rows - 1) * a.stride + a.cols <= a.data.len(), "input rows");
    assert!(applies(w.n), "the panel kernel does not apply");
    if let Finish::Epilogue { bias, residual, .. } = finish {
        assert!(bias.is_none_or(|b| b.len() == w.n), "bias size");
        assert!(residual.is_none_or(|r| r.len() == a.rows * w.n), "residual size");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let (width, out) = (panel_width(w.n), kernel::Out(dst));
        let panels = w.n / width;
        // Panels of one or of two registers a row.
        let run: kernel::KernelFn = if width == WIDTH { kernel::panels::<2> } else { kernel::panels::<1> };
        // SAFETY (all three): the caller vouches for `dst`, `applies` for the CPU; every task
        // writes its own columns or rows of `dst`.
        if threads > 1 && panels >= threads {
            (0..panels).into_par_iter().for_each(|p| unsafe {
                run(out.get(), a, w, finish, 0..a.rows, p..p + 1);
            });
        } else if threads > 1 {
            let rows = a.rows.div_ceil(threads).div_ceil(kernel::ROWS) * kernel::ROWS;
            (0..a.rows).into_par_iter().step_by(rows.max(1)).for_each(|r| unsafe {
                run(out.get(), a, w, finish, r..(r + rows).min(a.rows), 0..panels);
            });
        } else {
            unsafe { run(dst, a, w, finish, 0..a.rows, 0..panels) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use std::arch::x86_64::{
        __m512, _MM_HINT_T1, _mm_prefetch, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_max_ps,
        _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    use std::mem::MaybeUninit;
    use std::ops::Range;

    use super::{Finish, MatRef, PanelRef};

    /// The output pointer, shared by the tasks that write its disjoint parts.
    #[derive(Clone, Copy)]
    pub(super) struct Out(pub(super) *mut f32);
    // SAFETY: the tasks holding it write disjoint parts of the output (see `product`).
    unsafe impl Send for Out {}
    // SAFETY: as above.
    unsafe impl Sync for Out {}

    impl Out {
        pub(super) fn get(self) -> *mut f32 {
            self.0
        }
    }

    /// Rows per block in registers: with two registers a row (panels of [`super::WIDTH`]), 24 of
    /// the 32 registers. Panels of one register keep 12 rows too: with 24, the rows' addresses, too
    /// many for the general registers, were recomputed one after the other on every step along `k`,
    /// and the kernel waited on them (the fast pathway's 64 → 16 temporal at 32×32², one thread,
    /// 2.6 ms against 2.1 ms with 12, and 16 rows no faster).
    pub(super) const ROWS: usize = 12;

    /// `f32` lanes of a register.
    const LANES: usize = 16;

    /// `f32` values of a cache line: a block prefetches one line of each of its next rows every
    /// this many steps along `k`.
    const LINE: usize = 16;

    /// The shortest rows (`k`) worth prefetching: shorter ones are a few lines each, close enough
    /// together for the hardware prefetcher, and prefetching them only added instructions.
    const PREFETCH_MIN_K: usize = 128;

    /// Values of input rows a run keeps in the per-core cache: 1 MiB, the L2 of a core on the CPUs
    /// with AVX-512.
    const RUN_VALUES: usize = 1 << 18;

    /// [`panels`] for one panel width.
    pub(super) type KernelFn = unsafe fn(*mut f32, MatRef, PanelRef, Finish, Range<usize>, Range<usize>);

    /// Rows `rows` × panels `panels`, of `H` registers a row, of the product into `dst` (row stride
    /// `w.n`). Rows go in runs that keep their `k` inputs within [`RUN_VALUES`], and each run meets
    /// every panel in turn, so every run streams the whole weight once. Runs of a quarter of that
    /// made the products with the widest weights and fewest rows stream it several times
    /// (SlowFast's res5: three times for 64 rows of 2048 inputs, 22 for 256 rows of a strided 3×3's
    /// 4608). One layer alone, one thread, min of 40 in four alternating rounds: the temporal 2048
    /// → 512 at 4×8² 9.9 → 8.7 ms (4×7² on 2 threads: 4.4 → 3.9), the strided 3×3 512 → 512 at
    /// 4×16² 12.0 → 11.5, the 1×1×1 512 → 2048 at 4×8² 5.1 → 4.9; the other shapes measured (1×1×1s
    /// at 4×16² and 4×32², the temporal 1024 → 256 at 4×14² and 4×16²) within 3 %.
    ///
    /// A run's first panel reads its rows from memory, where the activations of the large early
    /// frames lie: 12 long rows read side by side, a line at a time, are more streams than the
    /// hardware prefetcher follows, and the kernel waited on them. So where rows have at least
    /// [`PREFETCH_MIN_K`] values, the blocks of the first panel prefetch the next block's rows
    /// into L2 as they go; the other panels find the run there. One layer alone, one thread, min
    /// of 40 in four alternating rounds: the 1×1×1 256 → 64 at 4×64² 6.9 → 5.3 ms, 320 → 128 at
    /// 4×64² 14.5 → 13.0; 128 → 512 and 512 → 128 at 4×32², 1024 → 256 at 4×16², 2048 → 512 and
    /// 512 → 2048 at 4×8² within the noise (±5 %). In 256² SlowFast forwards on one thread (min
    /// of five interleaved pairs), the two 256 → 64 take 2.6 ms less and the 320 → 128 1.2 ms:
    /// under 1 % of the forward.
    ///
    /// # Safety
    /// As for [`super::product`], whose checks the operands have passed, with `rows` and
    /// `panels` inside them; the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn panels<const H: usize>(
        dst: *mut f32,
        a: MatRef,
        w: PanelRef,
        finish: Finish,
        rows: Range<usize>,
        panels: Range<usize>,
    ) {
        let run = (RUN_VALUES / w.k.max(1) / ROWS).max(1) * ROWS;
        for r0 in rows.clone().step_by(run) {
            let r1 = (r0 + run).min(rows.end);
            for p in panels.clone() {
                let prefetch = p == panels.start && w.k >= PREFETCH_MIN_K;
                let mut i = r0;
                while i < r1 {
                    // SAFETY: rows `i..` of `a` and `dst`, panel `p` of `w`: inside the operands
                    // (`product` checked them; the caller vouches for `dst`).
                    i += unsafe {
                        match r1 - i {
                            1 => block::<1, H, false>(dst, a, w, finish, (i, p)),
                            2 => block::<2, H, false>(dst, a, w, finish, (i, p)),
                            3 => block::<3, H, false>(dst, a, w, finish, (i, p)),
                            4 => block::<4, H, false>(dst, a, w, finish, (i, p)),
                            5 => block::<5, H, false>(dst, a, w, finish, (i, p)),
                            6 => block::<6, H, false>(dst, a, w, finish, (i, p)),
                            7 => block::<7, H, false>(dst, a, w, finish, (i, p)),
                            8 => block::<8, H, false>(dst, a, w, finish, (i, p)),
                            9 => block::<9, H, false>(dst, a, w, finish, (i, p)),
                            10 => block::<10, H, false>(dst, a, w, finish, (i, p)),
                            11 => block::<11, H, false>(dst, a, w, finish, (i, p)),
                            _ if prefetch => block::<ROWS, H, true>(dst, a, w, finish, (i, p)),
                            _ => block::<ROWS, H, false>(dst, a, w, finish, (i, p)),
                        }
                    };
                }
            }
        }
    }

    /// Rows `i..i + R` × panel `p` of `H` registers; returns `R`. With `PREFETCH`, also asks for
    /// the next `R` rows of `a` to be brought into L2.
    ///
    /// # Safety
    /// As for [`panels`], with those rows and that panel inside the operands.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const R: usize, const H: usize, const PREFETCH: bool>(
        dst: *mut f32,
        a: MatRef,
        w: PanelRef,
        finish: Finish,
        (i, p): (usize, usize),
    ) -> usize {
        let width = H * LANES;
        let mut acc = [[_mm512_setzero_ps(); H]; R];
        let panel = w.data[p * w.k * width..(p + 1) * w.k * width].as_ptr();
        let x: [*const f32; R] = std::array::from_fn(|r| a.data[(i + r) * a.stride..].as_ptr());
        let next_rows = R * a.stride;
        for k in 0..w.k {
            if PREFETCH && k % LINE == 0 {
                for row in x {
                    // A hint, not a read: it never faults, even past the last row.
                    _mm_prefetch::<_MM_HINT_T1>(row.wrapping_add(next_rows + k).cast());
                }
            }
            // SAFETY: row `k` of the panel holds `width` values; rows `i + r` of `a` hold `k`
            // (`product` checked `a`).
            unsafe {
                let row: [__m512; H] =
                    std::array::from_fn(|h| _mm512_loadu_ps(panel.add(k * width + h * LANES)));
                for r in 0..R {
                    let v = _mm512_set1_ps(*x[r].add(k));
                    for h in 0..H {
                        acc[r][h] = _mm512_fmadd_ps(v, row[h], acc[r][h]);
                    }
                }
            }
        }
        // The sums leave the registers through a plain copy: indexing them in the loop below,
        // which is too large to unroll, would keep them in memory during the products too.
        let mut sums = [MaybeUninit::<[__m512; H]>::uninit(); R];
        for r in 0..R {
            sums[r] = MaybeUninit::new(acc[r]);
        }
        for (r, sums) in sums.iter().enumerate() {
            // SAFETY: every row was written just above.
            let sums = unsafe { sums.assume_init() };
            for (h, &sum) in sums.iter().enumerate() {
                // SAFETY: columns `col..col + 16` lie inside row `i + r` of `dst` and of the
                // residual, and inside the bias (`product` checked their lengths).
                unsafe { finish_register(dst, sum, finish, (i + r, p * width + LANES * h), w.n) };
            }
        }
        R
    }

    /// Writes `sum`, columns `col..col + 16` of output row `row` (`n` columns a row), through
    /// `finish`.
    ///
    /// # Safety
    /// Those columns lie inside `dst` and, where `finish` reads them, the bias and that row of
    /// the residual.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn finish_register(
        dst: *mut f32,
        sum: __m512,
        finish: Finish,
        (row, col): (usize, usize),
        n: usize,
    ) {
        // SAFETY: the caller's promise.
        unsafe {
            let y = dst.add(row * n + col);
            let v = match finish {
                Finish::Write => sum,
                Finish::Add => _mm512_add_ps(sum, _mm512_loadu_ps(y)),
                Finish::Epilogue { bias, residual, relu } => {
                    let mut v = sum;
                    if let Some(b) = bias {
                        v = _mm512_add_ps(v, _mm512_loadu_ps(b.as_ptr().add(col)));
                    }
                    if let Some(r) = residual {
                        v = _mm512_add_ps(v, _mm512_loadu_ps(r.as_ptr().add(row * n + col)));
                    }
                    if relu { _mm512_max_ps(v, _mm512_setzero_ps()) } else { v }
                }
            };
            _mm512_storeu_ps(y, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Finish, MatRef, Panels, WIDTH, applies, product};
    use crate::nn::cpu::test_values as values;

    /// Every finish, on one and two threads (split by panels, and by rows where there are fewer
    /// panels than threads), with rows left over after the blocks of 12, a strided input and the
    /// second of two packed matrices, against sums in f64.
    #[test]
    fn matches_a_plain_product_with_every_finish() {
        if !applies(WIDTH) {
            eprintln!("no AVX-512: the panel kernel never runs here");
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // Panels of 16 columns for 16 and 48 outputs; the last shape's inner dimension leaves
        // room for one block of rows a run, so its rows go in three runs.
        let shapes = [
            (1, 1, 32),
            (13, 7, 32),
            (25, 64, 64),
            (40, 300, 96),
            (12, 5, 128),
            (30, 9, 16),
            (50, 64, 48),
            (25, 22_000, 32),
        ];
        for (m, k, n) in shapes {
            let a_stride = k + 5;
            let a = values(m * a_stride, 1);
            let a_ref = MatRef { data: &a, rows: m, cols: k, stride: a_stride };
            let weights = values(2 * k * n, 2);
            let packed = Panels::pack(weights.clone(), 2, k, n);
            let (initial, bias) = (values(m * n, 3), values(n, 4));
            let dot = |i: usize, j: usize| -> f64 {
                (0..k).map(|l| a[i * a_stride + l] as f64 * weights[(k + l) * n + j] as f64).sum()
            };
            let residual = values(m * n, 5);
            let finishes = [
                Finish::Write,
                Finish::Add,
                Finish::Epilogue { bias: Some(&bias), residual: None, relu: true },
                Finish::Epilogue { bias: Some(&bias), residual: None, relu: false },
                Finish::Epilogue { bias: None, residual: None, relu: true },
                Finish::Epilogue { bias: Some(&bias), residual: Some(&residual), relu: true },
                Finish::Epilogue { bias: None, residual: Some(&residual), relu: false },
            ];
            for finish in finishes {
                for threads in [1, 2] {
                    let mut y = initial.clone();
                    // SAFETY: `y` holds m × n initialised values.
                    pool.install(|| unsafe {
                        product(y.as_mut_ptr(), a_ref, packed.matrix(1), finish, threads)
                    });
                    for (idx, &got) in y.iter().enumerate() {
                        let (i, j) = (idx / n, idx % n);
                        let want = match finish {
                            Finish::Write => dot(i, j),
                            Finish::Add => dot(i, j) + initial[idx] as f64,
                            Finish::Epilogue { bias, residual, relu } => {
                                let y = dot(i, j)
                                    + bias.map_or(0.0, |b| b[j] as f64)
                                    + residual.map_or(0.0, |r| r[idx] as f64);
                                if relu { y.max(0.0) } else { y }
                            }
                        };
                        assert!(
                            (got as f64 - want).abs() < 1e-5 * (k as f64).sqrt() + 1e-6,
                            "{m}×{k}×{n}, {threads} threads, at ({i}, {j}): {got} against {want}"
                        );
                    }
                }
            }
        }
        assert!(applies(16) && applies(48) && !applies(8) && !applies(24) && !applies(0));
        // A matrix with no rows packs to nothing (no chunks of zero length).
        assert_eq!(Panels::pack(Vec::new(), 3, 0, 64).matrix(2).k, 0);
    }
}
