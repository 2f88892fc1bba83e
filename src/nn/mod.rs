//! The few network operations candle lacks, for 3-D (video) convolutional networks.
//!
//! candle 0.11 has `conv2d` (one stride/padding/dilation for both spatial axes) but no 3-D
//! convolution or pooling. Everything here works on **frame-major** activations `[N, T, C, H, W]`
//! rather than PyTorch's `[N, C, T, H, W]`: then every temporal tap of a kernel is simply a batch of
//! 2-D images `[N·T, C, H, W]`, the shape candle's fast `conv2d` and plain matrix products want,
//! and no layer has to transpose its input. Callers convert once at the network's entrance.
//!
//! This module knows nothing about ResNets or checkpoints; it only imports [`crate::error`].

mod batch_norm;
mod conv;
mod pool;
mod resample;
mod taps;

pub use batch_norm::BatchNorm;
pub use conv::{Conv3d, Conv3dParams};
pub use pool::{MaxPool3d, global_avg_pool};
pub use resample::nearest_temporal;
pub use taps::Axis;
