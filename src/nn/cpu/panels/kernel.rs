//! The kernel: blocks of output rows × one panel kept in registers while the panel's rows stream
//! past, written once through the [`Finish`]. Generic over the instruction set ([`Vector`]); the
//! entry points [`avx512`] and [`avx2`] enable theirs and take everything below inline.

use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
use std::mem::MaybeUninit;
use std::ops::Range;

use super::vector::{Avx2, Avx512, Vector};
use super::{Finish, MatRef, PanelRef};

/// The output pointer, shared by the tasks that write its disjoint parts.
#[derive(Clone, Copy)]
pub(super) struct Out(pub(super) *mut f32);
// SAFETY: the tasks holding it write disjoint parts of the output (see `super::product`).
unsafe impl Send for Out {}
// SAFETY: as above.
unsafe impl Sync for Out {}

impl Out {
    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Rows `rows` × panels `panels` of the product into `dst` (row stride `w.n`): [`panels`] for
/// one instruction set and panel width.
pub(super) type KernelFn = unsafe fn(*mut f32, MatRef, PanelRef, Finish, Range<usize>, Range<usize>);

/// A kernel and the rows of its blocks, which a split of the rows between threads keeps whole.
#[derive(Clone, Copy)]
pub(super) struct Kernel {
    pub run: KernelFn,
    pub rows: usize,
}

/// The most rows a block holds. With more, the rows' addresses, too many for the general
/// registers, were recomputed one after the other on every step along `k`, and the kernel waited
/// on them (AVX-512, panels of one register, the fast pathway's 64 → 16 temporal at 32×32², one
/// thread: 2.6 ms with 24 rows against 2.1 ms with 12, and 16 rows no faster).
const MAX_ROWS: usize = 12;

/// The rows of a block with `h` registers a row for a CPU with `registers` vector registers: as
/// many as leave room for one panel row (`h`) and one broadcast value, up to [`MAX_ROWS`].
/// AVX-512: 12 rows for both widths (24 of the 32 registers with two a row). AVX2: 6 rows of two
/// registers (12 of 16, the classic 6 × 16 block), 12 rows of one.
const fn block_rows(registers: usize, h: usize) -> usize {
    let rows = (registers - h - 1) / h;
    if rows < MAX_ROWS { rows } else { MAX_ROWS }
}

/// Defines `$select(h)`, the kernel for panels of `h` registers (1 or 2) with vector type `$v`:
/// [`panels`] entered through a function that enables `$features`, which a generic function
/// cannot take from its type parameter.
macro_rules! select {
    ($(#[$doc:meta])* $select:ident, $v:ty, $features:literal) => {
        $(#[$doc])*
        pub(super) fn $select(h: usize) -> Kernel {
            /// [`panels`] with the instruction set enabled.
            ///
            /// # Safety
            /// As for [`panels`]; the CPU has the instruction set.
            #[target_feature(enable = $features)]
            unsafe fn entry<const H: usize, const ROWS: usize>(
                dst: *mut f32,
                a: MatRef,
                w: PanelRef,
                finish: Finish,
                rows: Range<usize>,
                panels: Range<usize>,
            ) {
                // SAFETY: the caller's promise.
                unsafe { self::panels::<$v, H, ROWS>(dst, a, w, finish, rows, panels) }
            }
            const ONE: usize = block_rows(<$v>::REGISTERS, 1);
            const TWO: usize = block_rows(<$v>::REGISTERS, 2);
            if h == 2 {
                Kernel { run: entry::<2, TWO>, rows: TWO }
            } else {
                Kernel { run: entry::<1, ONE>, rows: ONE }
            }
        }
    };
}

select!(
    /// The kernel for panels of `h` registers with AVX-512F.
    avx512,
    Avx512,
    "avx512f"
);
select!(
    /// The kernel for panels of `h` registers with AVX2 and FMA.
    avx2,
    Avx2,
    "avx2,fma"
);

/// `f32` values of a cache line: a block prefetches one line of each of its next rows every
/// this many steps along `k`.
const LINE: usize = 16;

/// The shortest rows (`k`) worth prefetching: shorter ones are a few lines each, close enough
/// together for the hardware prefetcher, and prefetching them only added instructions.
const PREFETCH_MIN_K: usize = 128;

/// Rows `rows` × panels `panels`, of `H` registers a row, of the product into `dst` (row stride
/// `w.n`), in blocks of `ROWS` rows. Rows go in runs that keep their `k` inputs within
/// [`Vector::RUN_VALUES`], and each run meets every panel in turn, so every run streams the whole
/// weight once. Runs of a quarter of that made the products with the widest weights and fewest
/// rows stream it several times (SlowFast's res5: three times for 64 rows of 2048 inputs, 22 for
/// 256 rows of a strided 3×3's 4608). AVX-512, one layer alone, one thread, min of 40 in four
/// alternating rounds: the temporal 2048 → 512 at 4×8² 9.9 → 8.7 ms (4×7² on 2 threads: 4.4 →
/// 3.9), the strided 3×3 512 → 512 at 4×16² 12.0 → 11.5, the 1×1×1 512 → 2048 at 4×8² 5.1 → 4.9;
/// the other shapes measured (1×1×1s at 4×16² and 4×32², the temporal 1024 → 256 at 4×14² and
/// 4×16²) within 3 %.
///
/// A run's first panel reads its rows from memory, where the activations of the large early
/// frames lie: 12 long rows read side by side, a line at a time, are more streams than the
/// hardware prefetcher follows, and the kernel waited on them. So where rows have at least
/// [`PREFETCH_MIN_K`] values, the blocks of the first panel prefetch the next block's rows into L2
/// as they go; the other panels find the run there. AVX-512, one layer alone, one thread, min of
/// 40 in four alternating rounds: the 1×1×1 256 → 64 at 4×64² 6.9 → 5.3 ms, 320 → 128 at 4×64²
/// 14.5 → 13.0; 128 → 512 and 512 → 128 at 4×32², 1024 → 256 at 4×16², 2048 → 512 and 512 → 2048
/// at 4×8² within the noise (±5 %). In 256² SlowFast forwards on one thread (min of five
/// interleaved pairs), the two 256 → 64 take 2.6 ms less and the 320 → 128 1.2 ms: under 1 % of
/// the forward.
///
/// # Safety
/// As for [`super::product`], whose checks the operands have passed, with `rows` and `panels`
/// inside them; called only from a function that enables `V`'s instruction set.
#[inline(always)]
unsafe fn panels<V: Vector, const H: usize, const ROWS: usize>(
    dst: *mut f32,
    a: MatRef,
    w: PanelRef,
    finish: Finish,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let run = (V::RUN_VALUES / w.k.max(1) / ROWS).max(1) * ROWS;
    for r0 in rows.clone().step_by(run) {
        let r1 = (r0 + run).min(rows.end);
        for p in panels.clone() {
            let prefetch = p == panels.start && w.k >= PREFETCH_MIN_K;
            let mut i = r0;
            while i < r1 {
                let at = (i, p);
                // SAFETY: rows `i..` of `a` and `dst`, panel `p` of `w`: inside the operands
                // (`product` checked them; the caller vouches for `dst`).
                i += unsafe {
                    match (r1 - i).min(ROWS) {
                        n if n == ROWS && prefetch => block::<V, ROWS, H, true>(dst, a, w, finish, at),
                        n if n == ROWS => block::<V, ROWS, H, false>(dst, a, w, finish, at),
                        1 => block::<V, 1, H, false>(dst, a, w, finish, at),
                        2 => block::<V, 2, H, false>(dst, a, w, finish, at),
                        3 => block::<V, 3, H, false>(dst, a, w, finish, at),
                        4 => block::<V, 4, H, false>(dst, a, w, finish, at),
                        5 => block::<V, 5, H, false>(dst, a, w, finish, at),
                        6 => block::<V, 6, H, false>(dst, a, w, finish, at),
                        7 => block::<V, 7, H, false>(dst, a, w, finish, at),
                        8 => block::<V, 8, H, false>(dst, a, w, finish, at),
                        9 => block::<V, 9, H, false>(dst, a, w, finish, at),
                        10 => block::<V, 10, H, false>(dst, a, w, finish, at),
                        _ => block::<V, 11, H, false>(dst, a, w, finish, at),
                    }
                };
            }
        }
    }
}

/// Rows `i..i + R` × panel `p` of `H` registers; returns `R`. With `PREFETCH`, also asks for the
/// next `R` rows of `a` to be brought into L2.
///
/// # Safety
/// As for [`panels`], with those rows and that panel inside the operands.
#[inline(always)]
unsafe fn block<V: Vector, const R: usize, const H: usize, const PREFETCH: bool>(
    dst: *mut f32,
    a: MatRef,
    w: PanelRef,
    finish: Finish,
    (i, p): (usize, usize),
) -> usize {
    let width = H * V::LANES;
    // SAFETY (every vector operation below): the caller enables `V`'s instruction set.
    let mut acc = [[unsafe { V::zero() }; H]; R];
    let panel = w.data[p * w.k * width..(p + 1) * w.k * width].as_ptr();
    let x: [*const f32; R] = std::array::from_fn(|r| a.data[(i + r) * a.stride..].as_ptr());
    let next_rows = R * a.stride;
    for k in 0..w.k {
        if PREFETCH && k % LINE == 0 {
            for row in x {
                // SAFETY: a hint, not a read: it never faults, even past the last row.
                unsafe { _mm_prefetch::<_MM_HINT_T1>(row.wrapping_add(next_rows + k).cast()) };
            }
        }
        // SAFETY: row `k` of the panel holds `width` values; rows `i + r` of `a` hold `k`
        // (`product` checked `a`).
        unsafe {
            let row: [V; H] = std::array::from_fn(|h| V::load(panel.add(k * width + h * V::LANES)));
            for r in 0..R {
                let v = V::splat(*x[r].add(k));
                for h in 0..H {
                    acc[r][h] = v.mul_add(row[h], acc[r][h]);
                }
            }
        }
    }
    // The sums leave the registers through a plain copy: indexing them in the loop below, which
    // is too large to unroll, would keep them in memory during the products too.
    let mut sums = [MaybeUninit::<[V; H]>::uninit(); R];
    for r in 0..R {
        sums[r] = MaybeUninit::new(acc[r]);
    }
    for (r, sums) in sums.iter().enumerate() {
        // SAFETY: every row was written just above.
        let sums = unsafe { sums.assume_init() };
        for (h, &sum) in sums.iter().enumerate() {
            // SAFETY: columns `col..col + LANES` lie inside row `i + r` of `dst` and of the
            // residual, and inside the bias (`product` checked their lengths).
            unsafe { finish_register(dst, sum, finish, (i + r, p * width + V::LANES * h), w.n) };
        }
    }
    R
}

/// Writes `sum`, columns `col..col + LANES` of output row `row` (`n` columns a row), through
/// `finish`.
///
/// # Safety
/// Those columns lie inside `dst` and, where `finish` reads them, the bias and that row of the
/// residual; called only from a function that enables `V`'s instruction set.
#[inline(always)]
unsafe fn finish_register<V: Vector>(
    dst: *mut f32,
    sum: V,
    finish: Finish,
    (row, col): (usize, usize),
    n: usize,
) {
    // SAFETY: the caller's promise.
    unsafe {
        let y = dst.add(row * n + col);
        let v = match finish {
            Finish::Write => sum,
            Finish::Add => sum.add(V::load(y)),
            Finish::Epilogue { bias, residual, relu } => {
                let mut v = sum;
                if let Some(b) = bias {
                    v = v.add(V::load(b.as_ptr().add(col)));
                }
                if let Some(r) = residual {
                    v = v.add(V::load(r.as_ptr().add(row * n + col)));
                }
                if relu { v.relu() } else { v }
            }
        };
        v.store(y);
    }
}
