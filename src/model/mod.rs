//! The action recognisers: build a network from an [`Architecture`] and a checkpoint, run it on
//! normalised clips, and average the views into class scores, all as mmaction2 1.2.0 does.
//!
//! Layout: `config` says what to build, `checkpoint` hands out tensors by key, `conv_module`/`block`
//! are the layers, `resnet3d`/`resnet2d`/`slowfast` the backbones, `head` the classifiers. Inside,
//! activations are channels-last (see [`crate::nn`]); the public API takes PyTorch's layouts.

mod block;
mod checkpoint;
mod config;
mod conv_module;
mod head;
pub(crate) mod lanes;
mod resnet2d;
mod resnet3d;
mod save;
mod slowfast;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use serde::{Deserialize, Serialize};

pub use checkpoint::{Checkpoint, Params};
pub use config::{Architecture, InflateStyle, ResNet2dConfig, ResNet3dConfig, SlowFastConfig};
pub use resnet3d::ResNet3d;
pub use save::save_safetensors;
pub use slowfast::SlowFast;

use crate::Result;
use head::Linear;

/// What the network returns for a batch of views.
#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// Raw class scores `[S, classes]` (S = views for 3-D models, 1 for TSN).
    pub logits: Tensor,
    /// The pooled features the classifier reads, `[S, feature_dim]` (SlowFast: fast then slow).
    pub features: Tensor,
}

#[derive(Clone, Debug)]
enum Backbone {
    Tsn(ResNet3d),
    ResNet3d(ResNet3d),
    SlowFast(Box<SlowFast>),
}

/// A loaded recogniser (`Recognizer2D`/`Recognizer3D` with its head), ready for inference.
#[derive(Clone, Debug)]
pub struct Recognizer {
    backbone: Backbone,
    fc: Linear,
}

impl Recognizer {
    /// Builds `arch` with the weights in `weights` (mmaction2 `.pth` or `.safetensors`) on `device`.
    ///
    /// Fails with [`crate::Error::Usage`] for an architecture no network can be built from (see
    /// [`Architecture::problem`]), and with [`crate::Error::Checkpoint`] naming the first missing or
    /// unused key, or a key whose shape differs from what the architecture needs.
    pub fn load(arch: &Architecture, weights: &Path, device: &Device) -> Result<Recognizer> {
        if let Some(problem) = arch.problem() {
            return Err(crate::Error::Usage(problem));
        }
        let ckpt = Checkpoint::load(weights)?;
        let root = ckpt.root(device);
        let (bp, hp) = (root.pp("backbone"), root.pp("cls_head"));
        let (backbone, features) = match arch {
            Architecture::Tsn(cfg) => {
                let net = resnet2d::load(cfg, &bp)?;
                let c = net.out_channels();
                (Backbone::Tsn(net), c)
            }
            Architecture::Resnet3d(cfg) => {
                let net = ResNet3d::load(&resnet3d::ResNetSpec::resolve(cfg, &bp)?, &bp)?;
                let c = net.out_channels();
                (Backbone::ResNet3d(net), c)
            }
            Architecture::Slowfast(cfg) => {
                let net = SlowFast::load(cfg, &bp)?;
                let (slow, fast) = net.out_channels();
                (Backbone::SlowFast(Box::new(net)), slow + fast)
            }
        };
        let fc = Linear::load(&hp, features)?;
        ckpt.finish()?;
        Ok(Recognizer { backbone, fc })
    }

    /// Number of classes the classifier scores.
    pub fn num_classes(&self) -> usize {
        self.fc.out_features()
    }

    /// Runs normalised views through the network.
    ///
    /// `input` is `[V, 3, T, H, W]` for 3-D models (V independent views, logits per view) or
    /// `[V, 3, H, W]` for TSN, where all V images are the segments of **one** video and their
    /// features are averaged before the classifier (one row of logits). Another shape, an empty
    /// axis, or a value that is NaN or infinite is an error.
    pub fn forward(&self, input: &Tensor) -> Result<ModelOutput> {
        let clips = match &self.backbone {
            Backbone::Tsn(_) => {
                expect_views(input, 4, 1, "[V, 3, H, W]")?;
                // [V, 3, H, W] → one-frame clips [V, 1, H, W, 3].
                crate::nn::channels_last(&input.unsqueeze(2)?)?
            }
            _ => {
                expect_views(input, 5, 1, "[V, 3, T, H, W]")?;
                crate::nn::channels_last(input)?
            }
        };
        expect_finite(input)?;
        self.forward_channels_last(&clips)
    }

    /// [`Self::forward`] on views already channels-last, `[V, T, H, W, 3]`, as
    /// [`Views::channels_last`](crate::transform::Views::channels_last) makes them; for TSN every
    /// one of the V·T frames is a segment of one video. Their shape is checked; their values are
    /// not (a pass over every view, where `Views` makes only finite ones).
    pub fn forward_channels_last(&self, clips: &Tensor) -> Result<ModelOutput> {
        expect_views(clips, 5, 4, "[V, T, H, W, 3]")?;
        // Pooled features per view, computed in lanes (see `lanes`) and joined in view order.
        let pooled = |x: &Tensor, f: &(dyn Fn(&Tensor) -> Result<Tensor> + Sync)| -> Result<Tensor> {
            Ok(Tensor::cat(&lanes::in_lanes(x, f)?, 0)?)
        };
        let features = match &self.backbone {
            Backbone::Tsn(net) => {
                let (v, t, h, w, c) = clips.dims5()?;
                let images = clips.reshape((v * t, 1, h, w, c))?;
                head::tsn_consensus(&pooled_in_steps(&images, &|x| head::pool(&net.forward(x)?))?)?
            }
            Backbone::ResNet3d(net) => pooled(clips, &|x| head::pool(&net.forward(x)?))?,
            Backbone::SlowFast(net) => pooled(clips, &|x| {
                let (slow, fast) = net.forward(x)?;
                head::slowfast_features(&slow, &fast)
            })?,
        };
        Ok(ModelOutput { logits: self.fc.forward(&features)?, features })
    }
}

/// TSN segments pooled per CPU step (see [`pooled_in_steps`]): enough rows for the late layers'
/// products, few enough that 250 segments hold a few steps' activations rather than all of them
/// (1000 segments in two halves peaked at 9.7 GB).
const TSN_SEGMENTS_PER_STEP: usize = 16;

/// `f` on the segments `[S, 1, H, W, 3]`, joined in order. On the CPU the segments go in steps
/// of at most [`TSN_SEGMENTS_PER_STEP`], shared out over the threads as they free up
/// ([`lanes::queue`]); the consensus averages the pooled features, which no step boundary
/// changes. A GPU takes them in one pass.
fn pooled_in_steps(segments: &Tensor, f: &(dyn Fn(&Tensor) -> Result<Tensor> + Sync)) -> Result<Tensor> {
    let count = segments.dim(0)?;
    if !segments.device().is_cpu() || count == 0 {
        return f(segments);
    }
    let per_step = count.div_ceil(rayon::current_num_threads()).clamp(1, TSN_SEGMENTS_PER_STEP);
    let step = |i: usize| {
        let start = i * per_step;
        f(&segments.narrow(0, start, per_step.min(count - start))?)
    };
    Ok(Tensor::cat(&lanes::queue(count.div_ceil(per_step), step, |_| {})?, 0)?)
}

/// Fails unless `x` has `rank` axes, none of them empty, and 3 colour channels on axis
/// `channels`: the kernels assume all three, and another count would trip an assertion deep inside.
fn expect_views(x: &Tensor, rank: usize, channels: usize, what: &str) -> Result<()> {
    let dims = x.dims();
    if dims.len() != rank || dims.contains(&0) || dims[channels] != 3 {
        let msg = format!("model input must be {what} with no empty axis, got shape {dims:?}");
        return Err(candle_core::Error::Msg(msg).into());
    }
    Ok(())
}

/// Fails where `x` holds NaN or an infinity. The CPU kernels' ReLU (a max with 0) turns NaN into
/// 0, so such an input would come out as plausible scores where PyTorch would pass the NaN on.
fn expect_finite(x: &Tensor) -> Result<()> {
    // x − x is 0 for every finite value and NaN for any other, in any dtype, and its sum cannot
    // overflow.
    let sum = x.sub(x)?.sum_all()?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
    if sum.is_nan() {
        return Err(candle_core::Error::Msg("model input holds NaN or infinite values".into()).into());
    }
    Ok(())
}

/// How the views of one video are combined (mmaction2's `average_clips`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Averaging {
    /// Softmax of each view, then the mean: mmaction2's `'prob'`, used by every zoo config.
    Prob,
    /// Mean of the logits. mmaction2's `'score'` stops there; [`average_views`] then applies a
    /// softmax so the result reads as probabilities (the ranking is the same).
    Score,
}

/// Combines per-view logits `[S, classes]` into one score per class.
///
/// `Prob`: softmax per row, then mean over rows. `Score`: mean over rows, then softmax (for
/// display; mmaction2 returns the mean logits themselves). For TSN, S = 1 and both are the softmax
/// of the consensus logits, which is what mmaction2 reports for TSN.
pub fn average_views(logits: &Tensor, how: Averaging) -> Result<Vec<f32>> {
    let logits = logits.to_dtype(DType::F32)?;
    let (rows, _) = logits.dims2()?;
    if rows == 0 {
        return Err(candle_core::Error::Msg("no views to average".into()).into());
    }
    let scores = match how {
        Averaging::Prob => candle_nn::ops::softmax(&logits, D::Minus1)?.mean(0)?,
        Averaging::Score => candle_nn::ops::softmax(&logits.mean_keepdim(0)?, D::Minus1)?.squeeze(0)?,
    };
    Ok(scores.to_vec1()?)
}

/// Rewrites a checkpoint (`.pth` or `.safetensors`) as safetensors with the state-dict key names
/// unchanged and `num_batches_tracked` dropped; `f16` halves the file (weights are widened back to
/// f32 on loading, so results move by f16 rounding of the weights).
pub fn convert_checkpoint(input: &Path, output: &Path, f16: bool) -> Result<()> {
    // Before the load, which takes a while for a large checkpoint.
    crate::writable::check_writable(output, crate::writable::OutputKind::Safetensors)?;
    if crate::writable::same_file(input, output) {
        let cause = "is the checkpoint being converted; name a new file";
        return Err(crate::Error::io(output, std::io::Error::new(std::io::ErrorKind::AlreadyExists, cause)));
    }
    let ckpt = Checkpoint::load(input)?;
    if f16 {
        refuse_f16_overflow(input, ckpt.tensors())?;
    }
    let dtype = if f16 { DType::F16 } else { DType::F32 };
    let tensors: HashMap<&str, Tensor> =
        ckpt.tensors().iter().map(|(k, t)| Ok((k.as_str(), t.to_dtype(dtype)?))).collect::<Result<_>>()?;
    save_safetensors(&tensors, output)
}

/// The largest finite float16.
const F16_MAX: f32 = 65504.0;

/// Fails naming the first (sorted) tensor with a value beyond float16's range, which would become
/// infinite (a BatchNorm's running variance can reach millions).
fn refuse_f16_overflow(input: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let largest = crate::nn::with_slice(&tensors[name], |values| {
            values.iter().fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
        })?;
        if largest.abs() > F16_MAX {
            return Err(crate::Error::Checkpoint {
                path: input.to_owned(),
                cause: format!(
                    "{name} holds {largest:e}, beyond float16's range (±65504): convert without --f16"
                ),
            });
        }
    }
    Ok(())
}
