//! mmaction2's 2-D `ResNet` (the TSN backbone) as a [`ResNet3d`] of temporal size 1.
//!
//! The 2-D network is the 3-D one with (1,k,k) kernels, no inflation and no pool2; only the
//! checkpoint's weights have one dimension less (`[O, C, kh, kw]`). Each image (segment) is run
//! as a one-frame clip.

use super::block::stage_layout;
use super::checkpoint::Params;
use super::config::{InflateStyle, ResNet2dConfig};
use super::conv_module::Rank;
use super::resnet3d::{ResNet3d, ResNetSpec};
use crate::Result;

/// Loads a 2-D ResNet at backbone prefix `p`.
pub(crate) fn load(cfg: &ResNet2dConfig, p: &Params) -> Result<ResNet3d> {
    let (kind, stage_blocks) = stage_layout(cfg.depth, p)?;
    let base_channels = match cfg.base_channels {
        Some(c) => c,
        None => p.required_shape("conv1.conv.weight", 4)?[0],
    };
    let spec = ResNetSpec {
        kind,
        stage_blocks,
        base_channels,
        conv1_kernel: [1, 7, 7],
        conv1_stride_t: 1,
        pool1_stride_t: Some(1),
        with_pool2: false,
        inflate: stage_blocks.iter().map(|&n| vec![false; n]).collect(),
        style: InflateStyle::T3x1x1,
        spatial_strides: cfg.strides,
        temporal_strides: [1; 4],
        lateral_inplanes: [0; 4],
        rank: Rank::Conv2d,
    };
    ResNet3d::load(&spec, p)
}
