//! The vector instructions the panel kernel is built from, one implementation per instruction set,
//! so that one kernel ([`super::kernel`]) serves CPUs with AVX-512 and CPUs with AVX2 and FMA alone
//! (AMD's Zen 2 and Zen 3, Intel's client cores since Alder Lake).
//!
//! The methods are `#[inline(always)]` and carry no target features themselves: they are inlined
//! into the kernel's entry points, which enable their instruction set, and only there do the
//! intrinsics they call compile to single instructions.

use std::arch::x86_64::{
    __m256, __m512, _mm256_add_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_max_ps,
    _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

/// One register of `f32` lanes and the operations the kernel applies to it.
///
/// # Safety
/// Callers run the methods only on a CPU with the instruction set, from a function that enables
/// it; `load` and `store` touch [`Vector::LANES`] values from their pointer on.
pub(super) trait Vector: Copy {
    /// `f32` values a register holds.
    const LANES: usize;
    /// Registers the CPU has, which bound a block of results kept in them.
    const REGISTERS: usize;
    /// Input values a run of rows keeps in a core's own cache (its L2) on the CPUs with this
    /// instruction set (see [`super::kernel`]).
    const RUN_VALUES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// `self · b + c`, rounded once.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    unsafe fn add(self, b: Self) -> Self;
    /// Negative lanes set to zero.
    unsafe fn relu(self) -> Self;
}

/// AVX-512F: 16 lanes, 32 registers.
#[derive(Clone, Copy)]
pub(super) struct Avx512(__m512);

/// AVX2 with FMA: 8 lanes, 16 registers.
#[derive(Clone, Copy)]
pub(super) struct Avx2(__m256);

/// Implements [`Vector`] for one instruction set from its intrinsics.
macro_rules! vector {
    ($t:ident, $lanes:expr, $registers:expr, $run_values:expr,
     $zero:ident, $splat:ident, $load:ident, $store:ident, $fma:ident, $add:ident, $max:ident) => {
        impl Vector for $t {
            const LANES: usize = $lanes;
            const REGISTERS: usize = $registers;
            const RUN_VALUES: usize = $run_values;
            #[inline(always)]
            unsafe fn zero() -> Self {
                // SAFETY: the trait's contract: the CPU has the instruction set.
                $t(unsafe { $zero() })
            }
            #[inline(always)]
            unsafe fn splat(x: f32) -> Self {
                // SAFETY: as above.
                $t(unsafe { $splat(x) })
            }
            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: as above; the caller vouches for the values read.
                $t(unsafe { $load(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut f32) {
                // SAFETY: as above; the caller vouches for the values written.
                unsafe { $store(p, self.0) }
            }
            #[inline(always)]
            unsafe fn mul_add(self, b: Self, c: Self) -> Self {
                // SAFETY: as above.
                $t(unsafe { $fma(self.0, b.0, c.0) })
            }
            #[inline(always)]
            unsafe fn add(self, b: Self) -> Self {
                // SAFETY: as above.
                $t(unsafe { $add(self.0, b.0) })
            }
            #[inline(always)]
            unsafe fn relu(self) -> Self {
                // SAFETY: as above.
                $t(unsafe { $max(self.0, $zero()) })
            }
        }
    };
}

// 1 MiB: the L2 of a core of the Xeons and Zen 4s with AVX-512.
vector!(
    Avx512,
    16,
    32,
    1 << 18,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_max_ps
);
// 512 KiB: the L2 of a Zen 2 or Zen 3 core (Intel's client cores have 1.25–2 MiB).
vector!(
    Avx2,
    8,
    16,
    1 << 17,
    _mm256_setzero_ps,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_max_ps
);
