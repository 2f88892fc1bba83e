//! Window geometry along one axis, and gathering the input slices each kernel tap reads.
//!
//! Convolution and pooling both slide a window of `kernel` taps, `dilation` apart, with `stride`
//! between outputs, over an axis padded by `padding` on each side. Gathering "the slice every output
//! position reads for tap j" turns a 3-D window into plain batched 2-D work or a matrix product.
//! Padding is not materialised: out-of-range positions point at one appended fill slice.

use candle_core::Tensor;

use crate::Result;

/// Kernel size, stride, zero/−∞ padding (both sides) and dilation along one axis, as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl Axis {
    /// A window of `kernel` taps with the given stride and padding, dilation 1.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Axis { kernel, stride, padding, dilation: 1 }
    }

    /// PyTorch's output length (floor mode): `(len + 2p − d(k−1) − 1) / s + 1`, or an error when the
    /// window does not fit even once.
    pub fn out_len(&self, len: usize) -> Result<usize> {
        let span = self.dilation * (self.kernel - 1) + 1;
        let padded = len + 2 * self.padding;
        if self.kernel == 0 || self.stride == 0 || padded < span {
            return Err(candle_core::Error::Msg(format!(
                "window of {} taps (dilation {}, padding {}) does not fit an axis of length {len}",
                self.kernel, self.dilation, self.padding
            ))
            .into());
        }
        Ok((padded - span) / self.stride + 1)
    }

    /// The input index output `o` reads at tap `j` on an axis of length `len`, or None where it
    /// falls into the padding.
    pub fn source(&self, o: usize, j: usize, len: usize) -> Option<usize> {
        let i = (o * self.stride + j * self.dilation) as isize - self.padding as isize;
        (0..len as isize).contains(&i).then_some(i as usize)
    }

    /// True when the axis is read exactly as it is: one tap, stride 1, no padding.
    pub fn is_identity(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }
}

/// For each tap along `dim`, the tensor of the slices every output position reads at that tap
/// (`len` → `out_len` along `dim`), in tap order. Out-of-range reads give `fill`.
pub(crate) fn gather_taps(x: &Tensor, dim: usize, axis: Axis, fill: f64) -> Result<Vec<Tensor>> {
    gather(x, dim, axis, fill, false)
}

/// [`gather_taps`] where every tap reads a tensor of its own: `stacked` holds them along its first
/// axis (`[kernel, …]`), and tap `j` gathers from `stacked[j]` along that tensor's `dim`.
pub(crate) fn gather_own_taps(stacked: &Tensor, dim: usize, axis: Axis, fill: f64) -> Result<Vec<Tensor>> {
    gather(stacked, dim, axis, fill, true)
}

fn gather(x: &Tensor, dim: usize, axis: Axis, fill: f64, stacked: bool) -> Result<Vec<Tensor>> {
    let tap_source = |src: &Tensor, j: usize| if stacked { src.get(j) } else { Ok(src.clone()) };
    if axis.is_identity() {
        return Ok(vec![tap_source(x, 0)?]);
    }
    let src_dim = dim + usize::from(stacked);
    let len = x.dim(src_dim)?;
    let out = axis.out_len(len)?;
    // Source index of output `o` at tap `j`, or `len` (the fill slice) where it falls in the padding.
    let source = |o: usize, j: usize| axis.source(o, j, len).unwrap_or(len) as u32;
    let padded = (0..axis.kernel).any(|j| (0..out).any(|o| source(o, j) == len as u32));
    let src = if padded {
        let mut shape = x.dims().to_vec();
        shape[src_dim] = 1;
        let fill = Tensor::full(fill as f32, shape, x.device())?.to_dtype(x.dtype())?;
        Tensor::cat(&[x, &fill], src_dim)?
    } else {
        x.clone()
    };
    (0..axis.kernel)
        .map(|j| {
            let idx: Vec<u32> = (0..out).map(|o| source(o, j)).collect();
            if !padded && out == len && idx.iter().enumerate().all(|(o, &i)| i as usize == o) {
                return Ok(tap_source(x, j)?);
            }
            let idx = Tensor::new(idx, x.device())?;
            Ok(tap_source(&src, j)?.index_select(&idx, dim)?)
        })
        .collect()
}

/// Elementwise maximum of a non-empty list of same-shaped tensors.
pub(crate) fn max_all(taps: Vec<Tensor>) -> Result<Tensor> {
    let mut taps = taps.into_iter();
    let first = taps.next().ok_or_else(|| candle_core::Error::Msg("no taps".into()))?;
    Ok(taps.try_fold(first, |acc, t| acc.maximum(&t))?)
}
