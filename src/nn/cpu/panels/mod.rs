//! Matrix products with weights laid out once, at load, for a register-blocked kernel, and the
//! convolution's bias and ReLU applied as each block of results leaves the registers.
//!
//! The `gemm` crate copies ("packs") the weight into its own layout on every call and writes its
//! result before the epilogue (bias, residual, ReLU) reads it back. A convolution's weight never
//! changes, so here it is packed once: `[K, N]` becomes panels of two vector registers' width (32
//! columns with AVX-512, 16 with AVX2), each panel's `K` rows one after the other. The kernel
//! ([`kernel`]) keeps a block of rows × one panel in registers (12 × 32 in 24 of AVX-512's 32
//! registers, 6 × 16 in 12 of AVX2's 16); every step along `K` loads one row of the panel (two
//! registers) and broadcasts one value of each of the block's input rows. The activations are
//! read where they lie (any row stride), not copied. Outputs that are a whole number of registers
//! but not of panels (the fast pathway's 16 channels with AVX-512, its 8 with AVX2) take panels
//! of one register.
//!
//! Measured on Zen 4 (AVX-512), one thread, each product alone with the weight and input cold,
//! against the `gemm` crate followed by the epilogue (bias and ReLU) on each tile of rows in
//! cache: 784 rows, 256 → 1024: 95 → 106 GFLOP/s; 12 544 rows, 64 → 256: 78 → 89; 64 rows, 256 →
//! 256 (a Winograd product of a 14² frame): 75 → 99; 196 rows, 4608 → 512: 97 → 108. AVX-512 runs
//! as two 256-bit halves on Zen 4, so the peak is that of AVX2; the gain is in what surrounds the
//! multiply-adds: no packing pass, a larger block in registers, and no second pass over the output
//! where there is no residual to add, or where the kernel adds it too (see
//! [`super::gemm::matmul_finished`]). With AVX-512's panels of 16 columns the `gemm` crate ran the
//! fast pathway's 16-channel products at 30–58 GFLOP/s; the panels took 0.83–1.03 of their time
//! (one layer alone, one thread, min of 40 in five alternating rounds: the strided 3×3 16 → 16 at
//! 32×64² 0.83–0.88, the temporal 32 → 16 at 32×64² 0.95, the 64 → 16 at 32×32² and the Winograd
//! 16 → 16 0.96–1.03).
//!
//! On Zen 3 (AVX2, no AVX-512), where the `gemm` crate had served every product, one 224²
//! SlowFast view in interleaved runs of fresh processes: one thread, medians 0.78–0.98 → 0.66–0.90
//! s (four pairs); two threads, about 0.95 of the time (six pairs). CPUs with neither instruction
//! set keep the `gemm` crate on the plain `[K, N]` weights ([`super::gemm`]).

use rayon::prelude::*;

use super::gemm::MatRef;

#[cfg(target_arch = "x86_64")]
mod kernel;
#[cfg(target_arch = "x86_64")]
mod vector;

/// The instruction set the panels are laid out for and the kernel runs with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Isa {
    /// AVX-512F: 16 lanes a register.
    Avx512,
    /// AVX2 and FMA: 8 lanes a register.
    Avx2,
}

impl Isa {
    /// This CPU's: the widest of the two it has, if any.
    fn detect() -> Option<Isa> {
        [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| isa.supported())
    }

    /// True when this CPU has the instruction set (`is_x86_feature_detected` caches what it
    /// finds).
    fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return match self {
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            Isa::Avx2 => super::avx2_fma(),
        };
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// `f32` values a register holds: the narrowest panel. Taken from the kernel's own vector
    /// types, so the panels' width and the kernel's registers cannot disagree.
    fn lanes(self) -> usize {
        #[cfg(target_arch = "x86_64")]
        return match self {
            Isa::Avx512 => <vector::Avx512 as vector::Vector>::LANES,
            Isa::Avx2 => <vector::Avx2 as vector::Vector>::LANES,
        };
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("neither instruction set exists off x86-64")
    }

    /// True when outputs of `n` columns are a whole number of registers.
    fn fits(self, n: usize) -> bool {
        n > 0 && n.is_multiple_of(self.lanes())
    }
}

/// True when products with `n` columns take the kernel: a CPU with AVX-512F or with AVX2 and FMA,
/// and `n` a whole number of registers. Narrower outputs (the fast pathway's 8 channels where the
/// registers hold 16) keep the `gemm` crate.
pub(crate) fn applies(n: usize) -> bool {
    Isa::detect().is_some_and(|isa| isa.fits(n))
}

/// The panel width for products with `n` columns on `isa`: two registers where `n` is a whole
/// number of those, one otherwise.
fn panel_width(isa: Isa, n: usize) -> usize {
    let lanes = isa.lanes();
    if n.is_multiple_of(2 * lanes) { 2 * lanes } else { lanes }
}

/// `count` weight matrices `[k, n]` in panels (see the module docs), matrix after matrix.
#[derive(Clone, Debug)]
pub(crate) struct Panels {
    data: Vec<f32>,
    k: usize,
    n: usize,
    isa: Isa,
}

impl Panels {
    /// Packs `count` dense row-major `[k, n]` matrices laid end to end in `dense`, in place
    /// (a packed matrix fills exactly the space of the dense one, so the load holds one copy of
    /// the weights and one matrix more); only where [`applies`].
    pub fn pack(dense: Vec<f32>, count: usize, k: usize, n: usize) -> Self {
        let isa = Isa::detect().expect("the panel kernel does not apply: no AVX-512, nor AVX2 with FMA");
        Panels::pack_for(isa, dense, count, k, n)
    }

    /// [`Panels::pack`] for the kernel of `isa`, which this CPU has, with `n` a whole number of
    /// its registers.
    fn pack_for(isa: Isa, mut dense: Vec<f32>, count: usize, k: usize, n: usize) -> Self {
        assert!(isa.supported() && isa.fits(n), "the {isa:?} kernel does not apply");
        assert_eq!(dense.len(), count * k * n, "weight size");
        let width = panel_width(isa, n);
        if k == 0 {
            return Panels { data: dense, k, n, isa };
        }
        let mut rows = vec![0f32; k * n];
        for matrix in dense.chunks_exact_mut(k * n) {
            rows.copy_from_slice(matrix);
            matrix.par_chunks_mut(k * width).enumerate().for_each(|(p, panel)| {
                for (row, dst) in panel.chunks_exact_mut(width).enumerate() {
                    dst.copy_from_slice(&rows[row * n + p * width..][..width]);
                }
            });
        }
        Panels { data: dense, k, n, isa }
    }

    /// Matrix `i`.
    pub fn matrix(&self, i: usize) -> PanelRef<'_> {
        let len = self.k * self.n;
        PanelRef { data: &self.data[i * len..(i + 1) * len], k: self.k, n: self.n, isa: self.isa }
    }
}

/// One packed `[k, n]` matrix.
#[derive(Clone, Copy)]
pub(crate) struct PanelRef<'a> {
    data: &'a [f32],
    pub k: usize,
    pub n: usize,
    isa: Isa,
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
    if let Finish::Epilogue { bias, residual, .. } = finish {
        assert!(bias.is_none_or(|b| b.len() == w.n), "bias size");
        assert!(residual.is_none_or(|r| r.len() == a.rows * w.n), "residual size");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let width = panel_width(w.isa, w.n);
        let panels = w.n / width;
        let registers = width / w.isa.lanes();
        let kernel = match w.isa {
            Isa::Avx512 => kernel::avx512(registers),
            Isa::Avx2 => kernel::avx2(registers),
        };
        let (run, out) = (kernel.run, kernel::Out(dst));
        // SAFETY (all three): the caller vouches for `dst`; the panels were packed for `w.isa`,
        // which this CPU has (`Panels::pack_for`); every task writes its own columns or rows of `dst`.
        if threads > 1 && panels >= threads {
            (0..panels).into_par_iter().for_each(|p| unsafe {
                run(out.get(), a, w, finish, 0..a.rows, p..p + 1);
            });
        } else if threads > 1 {
            let rows = a.rows.div_ceil(threads).div_ceil(kernel.rows) * kernel.rows;
            (0..a.rows).into_par_iter().step_by(rows.max(1)).for_each(|r| unsafe {
                run(out.get(), a, w, finish, r..(r + rows).min(a.rows), 0..panels);
            });
        } else {
            unsafe { run(dst, a, w, finish, 0..a.rows, 0..panels) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Finish, Isa, MatRef, Panels, applies, product};
    use crate::nn::cpu::test_values as values;

    /// Every finish, on one and two threads (split by panels, and by rows where there are fewer
    /// panels than threads), with rows left over after the blocks, a strided input and the second
    /// of two packed matrices, against sums in f64; for each instruction set this CPU has (one with
    /// AVX-512 tests both kernels).
    #[test]
    fn matches_a_plain_product_with_every_finish() {
        let isas: Vec<Isa> = [Isa::Avx512, Isa::Avx2].into_iter().filter(|isa| isa.supported()).collect();
        if isas.is_empty() {
            eprintln!("neither AVX-512 nor AVX2 with FMA: the panel kernel never runs here");
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // Panels of one register for 8, 24 and 40 outputs (AVX2) and for 16 and 48 (AVX-512); the
        // inner dimension of 22 000 leaves room for one block of rows a run, so the rows go in
        // several runs.
        let shapes = [
            (1, 1, 32),
            (13, 7, 32),
            (25, 64, 64),
            (40, 300, 96),
            (12, 5, 128),
            (30, 9, 16),
            (50, 64, 48),
            (25, 22_000, 32),
            (14, 40, 8),
            (19, 130, 24),
            (7, 3, 40),
        ];
        for (isa, (m, k, n)) in isas.iter().flat_map(|&isa| shapes.map(|shape| (isa, shape))) {
            if !isa.fits(n) {
                continue;
            }
            let a_stride = k + 5;
            let a = values(m * a_stride, 1);
            let a_ref = MatRef { data: &a, rows: m, cols: k, stride: a_stride };
            let weights = values(2 * k * n, 2);
            let packed = Panels::pack_for(isa, weights.clone(), 2, k, n);
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
                            "{isa:?}, {m}×{k}×{n}, {threads} threads, at ({i}, {j}): {got} against {want}"
                        );
                    }
                }
            }
        }
        // The widest instruction set decides which outputs take the kernel.
        let lanes = isas[0].lanes();
        assert!(applies(lanes) && applies(3 * lanes) && !applies(lanes / 2) && !applies(0));
        // A matrix with no rows packs to nothing (no chunks of zero length).
        assert_eq!(Panels::pack(Vec::new(), 3, 0, 64).matrix(2).k, 0);
    }
}
