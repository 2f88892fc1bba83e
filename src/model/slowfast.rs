//! mmaction2's `ResNet3dSlowFast`: a slow and a fast `ResNet3d` pathway, joined after the stem and
//! after layers 1–3 by lateral convolutions from fast to slow.
//!
//! The whole clip enters the backbone; each pathway takes its frames by nearest-neighbour
//! resampling (slow: every τ-th frame, fast: every (τ/α)-th). A lateral is a bare (k,1,1)
//! convolution with temporal stride α (no BN, no ReLU, no bias) whose output is concatenated
//! **after** the slow features (`cat([slow, lateral])`). The slow stage inputs are therefore wider
//! than a plain ResNet's; the extra widths are read off the lateral weights. With
//! `lateral_norm=True` (the 8x8 "steplr" model) each lateral is a full ConvModule (BN + ReLU); the
//! checkpoint says which by having `<lateral>.bn.*` keys.

use candle_core::Tensor;

use super::checkpoint::Params;
use super::config::SlowFastConfig;
use super::conv_module::{ConvModule, ConvSpec, Rank};
use super::resnet3d::{ResNet3d, ResNetSpec};
use crate::Result;
use crate::nn::nearest_temporal;

/// The two-pathway backbone.
#[derive(Clone, Debug)]
pub struct SlowFast {
    slow: ResNet3d,
    fast: ResNet3d,
    /// `conv1_lateral`, `layer1_lateral`, `layer2_lateral`, `layer3_lateral`.
    laterals: Vec<ConvModule>,
    resample_rate: usize,
    speed_ratio: usize,
}

/// Lateral names in the order they are applied.
const LATERALS: [&str; 4] = ["conv1_lateral", "layer1_lateral", "layer2_lateral", "layer3_lateral"];

impl SlowFast {
    /// Loads `backbone.slow_path.*` and `backbone.fast_path.*` from backbone prefix `p`.
    pub(crate) fn load(cfg: &SlowFastConfig, p: &Params) -> Result<Self> {
        let (sp, fp) = (p.pp("slow_path"), p.pp("fast_path"));
        let fast_spec = ResNetSpec::resolve(&cfg.fast, &fp)?;
        let mut slow_spec = ResNetSpec::resolve(&cfg.slow, &sp)?;
        // The fast features each lateral reads: stem output, then layers 1–3.
        let fast_channels = [
            fast_spec.base_channels,
            fast_spec.stage_channels(0),
            fast_spec.stage_channels(1),
            fast_spec.stage_channels(2),
        ];
        let mut laterals = Vec::with_capacity(4);
        for (i, name) in LATERALS.iter().enumerate() {
            let lp = sp.pp(name);
            let shape = lp.required_shape("conv.weight", 5)?;
            let kernel = cfg.fusion_kernel.unwrap_or(shape[2]);
            let spec = ConvSpec::same(fast_channels[i], shape[0], [kernel, 1, 1], [cfg.speed_ratio, 1, 1]);
            laterals.push(if lp.has("bn.weight") {
                ConvModule::load(&lp, spec, Rank::Conv3d, true)?
            } else {
                ConvModule::load_bare(&lp, spec, Rank::Conv3d)?
            });
            slow_spec.lateral_inplanes[i] = shape[0];
        }
        Ok(SlowFast {
            slow: ResNet3d::load(&slow_spec, &sp)?,
            fast: ResNet3d::load(&fast_spec, &fp)?,
            laterals,
            resample_rate: cfg.resample_rate,
            speed_ratio: cfg.speed_ratio,
        })
    }

    /// Output channels `(slow, fast)`.
    pub fn out_channels(&self) -> (usize, usize) {
        (self.slow.out_channels(), self.fast.out_channels())
    }

    /// Channels-last clip `[N, T, H, W, 3]` → `(slow, fast)` last-stage features.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let slow = nearest_temporal(x, 1.0 / self.resample_rate as f64)?;
        let fast = nearest_temporal(x, 1.0 / (self.resample_rate / self.speed_ratio) as f64)?;
        let cpu = x.device().is_cpu();
        let (slow, fast) = both(cpu, || self.slow.stem(&slow), || self.fast.stem(&fast));
        let (mut slow, mut fast) = (slow?, fast?);
        slow = Tensor::cat(&[&slow, &self.laterals[0].forward(&fast)?], 4)?;
        for i in 0..4 {
            let (s, f) = both(cpu, || self.slow.layer(i, &slow), || self.fast.layer(i, &fast));
            (slow, fast) = (s?, f?);
            if let Some(lateral) = self.laterals.get(i + 1) {
                slow = Tensor::cat(&[&slow, &lateral.forward(&fast)?], 4)?;
            }
        }
        Ok((slow, fast))
    }
}

/// Runs both pathways' work for one stage. The pathways meet only at the laterals, so on the CPU
/// they run side by side and the threads one pathway's narrow layers leave idle work on the
/// other's. A GPU queues every kernel on one stream anyway, and candle's CUDA backend is not safe
/// to drive from two threads at once (full-width SlowFast gave wrong logits that way), so there
/// they run in turn.
fn both<A: Send, B: Send>(cpu: bool, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if cpu { rayon::join(a, b) } else { (a(), b()) }
}
