//! Hand-written CPU kernels for `f32` activations in the channels-last layout `[N, T, H, W, C]`.
//!
//! In that layout every output position of a convolution is one row of a matrix with `C`
//! contiguous columns, so a 1×1×1 convolution is one matrix product over `N·T·H·W` rows with no
//! copy at all, a (k,1,1) temporal kernel is k products over row ranges shifted by whole frames, and
//! any other kernel is a product over rows gathered by [`im2col`](conv). The products run on
//! weights packed at load for a kernel of vidclass's own ([`panels`]) where the CPU has AVX-512 or
//! AVX2 with FMA, and through the `gemm` crate otherwise ([`gemm`]); the folded-BatchNorm bias,
//! the residual addition and the ReLU are applied to each block or tile of output rows while it
//! is still in registers or in cache ([`conv::Epilogue`]).
//!
//! The layers in [`crate::nn`] use these kernels when their weights live on the CPU as `f32` and
//! fall back to candle's generic operations otherwise (other devices or dtypes).

pub(crate) mod conv;
mod direct;
mod frames;
mod gemm;
mod im2col;
mod panels;
mod polyphase;
pub(crate) mod pool;
mod temporal;
mod tiles;
mod winograd;

use candle_core::{CpuStorage, Device, Storage, Tensor};

use crate::Result;

/// The dims of a channels-last activation `[N, T, H, W, C]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub n: usize,
    pub t: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Dims {
    pub fn of(x: &Tensor) -> Result<Dims> {
        let (n, t, h, w, c) = x.dims5()?;
        Ok(Dims { n, t, h, w, c })
    }

    /// Rows (positions) per sample.
    pub fn sample_rows(&self) -> usize {
        self.t * self.h * self.w
    }

    /// Rows (positions) in all.
    pub fn rows(&self) -> usize {
        self.n * self.sample_rows()
    }

    pub fn to_shape(self) -> (usize, usize, usize, usize, usize) {
        (self.n, self.t, self.h, self.w, self.c)
    }
}

/// True when `x` can take the CPU kernels: an `f32` tensor on the CPU.
pub(crate) fn applies(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32
}

/// Runs `f` on the elements of CPU `f32` tensor `x`, in row-major order.
pub(crate) fn with_slice<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let (start, end) = layout.contiguous_offsets().expect("contiguous after .contiguous()");
    match &*storage {
        Storage::Cpu(CpuStorage::F32(data)) => Ok(f(&data[start..end])),
        _ => Err(candle_core::Error::Msg("expected a CPU f32 tensor".into()).into()),
    }
}

/// Wraps a kernel's output buffer as a CPU tensor (no copy).
pub(crate) fn tensor(data: Vec<f32>, dims: Dims) -> Result<Tensor> {
    Ok(Tensor::from_vec(data, dims.to_shape(), &Device::Cpu)?)
}

thread_local! {
    /// Each thread's two scratch matrices (an im2col tile; Winograd's `V` and `M`), kept between
    /// calls: fresh multi-MiB allocations would cost a page fault per 4 KiB, as much as the
    /// transforms themselves on narrow layers.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` on this thread's scratch matrices, `sizes` values each (contents unspecified).
///
/// They are taken out of the thread-local for the duration rather than borrowed: a thread that
/// waits inside `f` on parallel work (a multi-threaded product, or SlowFast's other pathway under
/// `rayon::join`) may run another kernel's task meanwhile, which then finds them empty and
/// allocates its own, where a borrow held across the wait would panic.
pub(super) fn with_scratch<R>(sizes: [usize; 2], f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    let (mut a, mut b) = SCRATCH.take();
    a.resize(a.len().max(sizes[0]), 0.0);
    b.resize(b.len().max(sizes[1]), 0.0);
    let result = f(&mut a[..sizes[0]], &mut b[..sizes[1]]);
    SCRATCH.set((a, b));
    result
}

/// `y`, every value of which has been written, as initialised values.
///
/// # Safety
/// Every value of `y` must have been written.
pub(super) unsafe fn assume_written(y: &mut [std::mem::MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: `f32` and `MaybeUninit<f32>` have the same layout; the values are initialised (the
    // caller's promise).
    unsafe { &mut *(y as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) }
}

/// True when this CPU has AVX2 and FMA, which the hand-written inner loops ([`direct`], and
/// [`panels`] where there is no AVX-512) use.
pub(crate) fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Rayon's thread count, which the kernels split their work over.
pub(crate) fn threads() -> usize {
    rayon::current_num_threads()
}

/// Pseudo-random values in [-1, 1) from a fixed seed, for the kernels' unit tests.
#[cfg(test)]
fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}
