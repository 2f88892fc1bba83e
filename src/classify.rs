//! A model ready to classify videos: a card's network with its weights, labels and view protocol.
//!
//! This is the library's one-stop entry point: [`Classifier::prepare`] builds the exact views the
//! card's protocol asks for, [`Classifier::classify`] runs them through the network and averages
//! them the way the card says (mmaction2's `average_clips`). Views of 3-D models go through the
//! network one per thread at a time on a CPU ([`views_per_pass`]), so that a 30-view protocol does
//! not hold 30 views' activations at once; TSN's segments must meet in one pass because its head
//! averages their features.

use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::model::{Averaging, ModelOutput, Recognizer, average_views, lanes};
use crate::prepare::{PreparedInput, ViewProtocol, prepare};
use crate::transform::{Layout, Normalize, Views};
use crate::video::Video;
use crate::zoo::ModelCard;

/// How many of a video's `views` share one forward pass in `layout` on `device`: all of them for
/// TSN (`Nchw`), whose head averages the segments inside the network; on a GPU, which wants the
/// largest products it can get, up to [`GPU_VIEWS_PER_PASS`]; one per rayon thread for 3-D
/// models on the CPU, since the network runs the views of a batch side by side, one per thread,
/// which beats splitting every layer over the threads.
pub fn views_per_pass(layout: Layout, views: usize, device: &Device) -> usize {
    match layout {
        Layout::Nchw => views,
        _ if view_per_thread(layout, device) => rayon::current_num_threads(),
        _ => views.min(GPU_VIEWS_PER_PASS),
    }
}

/// True where views run one per thread: 3-D models on the CPU.
fn view_per_thread(layout: Layout, device: &Device) -> bool {
    layout == Layout::Ncthw && device.is_cpu()
}

/// One forward pass of [`forward_views`]: how many views it covered, and how long building their
/// input tensor and running the network took.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    pub views: usize,
    pub input_time: Duration,
    pub network_time: Duration,
}

/// Bytes a forward pass holds at its peak for each pixel of a view's frames in `layout`, from the
/// growth of peak memory with the clip's length or the segments' count (full width: SlowFast R50
/// 73–98 and I3D R50 about 130 a pixel of the clip; TSN R50 about 220 a pixel of its segments,
/// which no temporal stride shrinks). Close to the measured peaks, so that a view that fits is not
/// refused; a borderline one may still run out.
fn network_bytes_per_pixel(layout: Layout) -> u64 {
    match layout {
        Layout::Nchw => 256,
        Layout::Ncthw => 128,
    }
}

/// Whether `protocol`'s views have the shape of one of `card`'s own protocols, on a built-in card:
/// their tests run them, so they are known to fit the network.
fn shape_is_tested(card: &ModelCard, protocol: &ViewProtocol) -> bool {
    let card_shapes = [card.views.fast, card.views.full].map(|v| (v.sample.clip_len, v.crop.size));
    ModelCard::builtin(&card.name).is_ok_and(|builtin| builtin == *card)
        && card_shapes.contains(&(protocol.sample.clip_len, protocol.crop.size))
}

/// Refuses views of `protocol`'s shape whose activations would not fit the memory the process has
/// available (on a CPU, views at a time as [`forward_views`] runs them), unless they are the
/// card's own: a clip length or crop size of ten thousand, a typing mistake, would otherwise end
/// the process (out of memory) in its first forward. [`Classifier::new`] checks this before the
/// weights load; a caller that decodes inputs meanwhile (up to 4 GiB of frames each) calls it
/// first. Only where the system says what is available (Linux).
pub fn check_views_fit_memory(card: &ModelCard, protocol: &ViewProtocol, device: &Device) -> Result<()> {
    if shape_is_tested(card, protocol) {
        return Ok(());
    }
    check_untested_views_fit_memory(card, protocol, device)
}

/// [`check_views_fit_memory`] for views not of a built-in card's own shapes.
fn check_untested_views_fit_memory(card: &ModelCard, protocol: &ViewProtocol, device: &Device) -> Result<()> {
    let layout = card.architecture.input_layout();
    let Some(available) = crate::memory::available_bytes().filter(|_| device.is_cpu()) else { return Ok(()) };
    let threads = rayon::current_num_threads();
    let (frames, size) = (protocol.sample.clip_len, protocol.crop.size);
    // TSN's segments go through in steps of up to 16 a thread (`model::pooled_in_steps`).
    let at_once = protocol.num_views().min(if layout == Layout::Nchw { 16 * threads } else { threads });
    let pixels = [at_once, frames, size, size].into_iter().map(|n| n as u64).product::<u64>();
    let needed = pixels.saturating_mul(network_bytes_per_pixel(layout));
    if needed <= available {
        return Ok(());
    }
    let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
    let cause = format!(
        "need about {:.1} GiB for the network ({at_once} at a time), more than the {:.1} GiB of memory \
         available",
        gib(needed),
        gib(available)
    );
    Err(Error::ViewShape { frames, size, cause })
}

/// Runs one black view of `protocol`'s shape through `recognizer`, so that a clip length or crop
/// size the network cannot take (too few frames for SlowFast's slow pathway or I3D's temporal
/// pooling, too few pixels for its strides) fails once, before any input, rather than once for
/// every input. The built-in cards' own protocols are known to fit (their tests run them) and
/// skip this; a card file's are checked like any override.
///
/// The failure names the card's rule for clip lengths where one explains it (SlowFast's τ, I3D's
/// temporal pool), else the network's own words.
fn check_view_shape(
    recognizer: &Recognizer,
    protocol: &ViewProtocol,
    card: &ModelCard,
    device: &Device,
) -> Result<()> {
    let (frames, size) = (protocol.sample.clip_len, protocol.crop.size);
    let black = RgbFrame::new(size, size, vec![0; size * size * 3]);
    let view = Views { frames: vec![vec![black; frames]] };
    let layout = card.architecture.input_layout();
    let fits = view.tensor(0..1, &card.normalize, layout, device).and_then(|x| recognizer.forward(&x));
    fits.map(|_| ()).map_err(|e| {
        let why = card.architecture.clip_len_problem(frames).unwrap_or_else(|| e.detail());
        Error::ViewShape { frames, size, cause: format!("do not fit the network: {why}") }
    })
}

/// Runs `views`, normalised with `normalize`, through `recognizer` on `device` in passes of
/// [`views_per_pass`] views for the card's `layout`, and returns the passes' outputs in view
/// order, calling `pass_done` after each.
///
/// On a CPU, where 3-D views run one per thread, the passes are queued rather than run in turn:
/// each thread takes the next view as soon as it is done with one instead of waiting for the
/// other threads' views of its batch (see `model::lanes`). Views that do not fill every
/// thread (the one view of `--views fast`, the last few of an uneven protocol) run together in
/// one last pass, which gives them all the threads.
pub fn forward_views(
    recognizer: &Recognizer,
    views: &Views,
    (normalize, layout): (&Normalize, Layout),
    device: &Device,
    mut pass_done: impl FnMut(&Pass),
) -> Result<Vec<ModelOutput>> {
    let per_pass = views_per_pass(layout, views.len(), device).max(1);
    let forward = |range: Range<usize>| -> Result<(ModelOutput, Pass)> {
        let start = Instant::now();
        let clips = views.channels_last(range.clone(), normalize, device)?;
        let input_time = start.elapsed();
        let output = recognizer.forward_channels_last(&clips)?;
        Ok((output, Pass { views: range.len(), input_time, network_time: start.elapsed() - input_time }))
    };
    let queued = if view_per_thread(layout, device) { views.len() / per_pass * per_pass } else { 0 };
    let mut outputs = lanes::queue(queued, |i| forward(i..i + 1), |(_, pass)| pass_done(pass))?;
    for start in (queued..views.len()).step_by(per_pass) {
        let pass = forward(start..(start + per_pass).min(views.len()))?;
        pass_done(&pass.1);
        outputs.push(pass);
    }
    Ok(outputs.into_iter().map(|(output, _)| output).collect())
}

/// 3-D views per forward pass on a GPU: a published 10 × 3 protocol in one batch, as mmaction2
/// runs it. More views (say `--clips 10 --crops ten`) go in passes of this size, which bounds the
/// GPU memory a pass needs and keeps every tensor well under the 2³² elements candle's CUDA
/// kernels can index (SlowFast's gathered stem input is 0.9 G elements for 30 views at 256²).
pub const GPU_VIEWS_PER_PASS: usize = 30;

/// Scores for one video.
#[derive(Clone, Debug)]
pub struct Classification {
    /// One probability per class, views averaged as the card says.
    pub scores: Vec<f32>,
    /// Raw class scores per view (`[views, classes]`; one row for TSN).
    pub logits: Tensor,
    /// Pooled pre-classifier features per view (`[views, dim]`; one row for TSN).
    pub features: Tensor,
}

/// A loaded model with everything needed to go from a video to class scores.
pub struct Classifier {
    name: String,
    recognizer: Recognizer,
    labels: Vec<String>,
    protocol: ViewProtocol,
    normalize: Normalize,
    averaging: Averaging,
    layout: Layout,
    device: Device,
}

impl Classifier {
    /// Loads `card`'s network with `weights`, to be run on `protocol`'s views.
    ///
    /// `labels` must name every class the checkpoint scores.
    pub fn new(
        card: &ModelCard,
        weights: &Path,
        labels: Vec<String>,
        protocol: ViewProtocol,
        device: Device,
    ) -> Result<Classifier> {
        // The command line and card files check theirs as they are read; a library caller's
        // views meet the same rules here, before the weights load.
        if let Some(field) = protocol.zero_field() {
            return Err(Error::Usage(format!("views: {field} must be at least 1")));
        }
        if let Some(problem) = protocol.problem() {
            return Err(Error::Usage(format!("views: {problem}")));
        }
        let layout = card.architecture.input_layout();
        let tested = shape_is_tested(card, &protocol);
        if !tested {
            check_untested_views_fit_memory(card, &protocol, &device)?;
        }
        let recognizer = Recognizer::load(&card.architecture, weights, &device)?;
        if labels.len() != recognizer.num_classes() {
            return Err(Error::LabelCount { names: labels.len(), classes: recognizer.num_classes() });
        }
        if !tested {
            check_view_shape(&recognizer, &protocol, card, &device)?;
        }
        Ok(Classifier {
            name: card.name.clone(),
            recognizer,
            labels,
            protocol,
            normalize: card.normalize,
            averaging: card.averaging,
            layout,
            device,
        })
    }

    /// The model card's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Class names by class index.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The view protocol inputs are prepared with.
    pub fn protocol(&self) -> &ViewProtocol {
        &self.protocol
    }

    /// Samples, decodes and crops `video` as the protocol says.
    pub fn prepare(&self, video: &Video) -> Result<PreparedInput> {
        prepare(video, &self.protocol)
    }

    /// Runs the network on prepared views and averages them into class scores.
    pub fn classify(&self, input: &PreparedInput) -> Result<Classification> {
        self.classify_with_progress(input, |_| {})
    }

    /// [`Self::classify`], calling `views_done(n)` after each forward pass with the number of views
    /// it covered (a long protocol takes a while on a CPU).
    pub fn classify_with_progress(
        &self,
        input: &PreparedInput,
        mut views_done: impl FnMut(usize),
    ) -> Result<Classification> {
        let outputs = forward_views(
            &self.recognizer,
            &input.views,
            (&self.normalize, self.layout),
            &self.device,
            |pass| views_done(pass.views),
        )?;
        let (logits, features): (Vec<_>, Vec<_>) =
            outputs.into_iter().map(|o| (o.logits, o.features)).unzip();
        let logits = Tensor::cat(&logits, 0)?;
        let features = Tensor::cat(&features, 0)?;
        let scores = average_views(&logits, self.averaging)?;
        if !scores.iter().all(|s| s.is_finite()) {
            return Err(Error::NonFiniteScores);
        }
        Ok(Classification { scores, logits, features })
    }
}
