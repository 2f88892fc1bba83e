//! The few network operations candle lacks, for 3-D (video) convolutional networks.
//!
//! candle 0.11 has `conv2d` (one stride/padding/dilation for both spatial axes) but no 3-D
//! convolution or pooling, and its CPU convolution repacks every input. Everything here works on
//! **channels-last** activations `[N, T, H, W, C]` rather than PyTorch's `[N, C, T, H, W]`: every
//! position is then one row of `C` contiguous values, so convolutions are large matrix products
//! over `N·T·H·W` rows (`cpu`, for CPU `f32`). Other devices and dtypes go through candle's
//! generic operations. Callers convert once at the network's entrance.
//!
//! This module knows nothing about ResNets or checkpoints; it only imports [`crate::error`].

mod batch_norm;
mod conv;
pub mod counters;
mod cpu;
mod generic_conv;
mod layout;
mod pool;
mod resample;
mod taps;

pub use batch_norm::BatchNorm;
pub use conv::{Conv3d, Conv3dParams};
pub(crate) use cpu::with_slice;
pub use layout::channels_last;
pub use pool::{MaxPool3d, global_avg_pool};
pub use resample::nearest_temporal;
pub use taps::Axis;
