//! Classify one video with the library: `cargo run --release --example classify -- CLIP WEIGHTS`.
//!
//! The same steps `vidclass predict` takes for one input, without the CLI: a built-in model card,
//! its label map, local weights, the card's single-view protocol, then the top five classes and
//! the size of the pooled features (usable as a video embedding).

use candle_core::Device;
use vidclass::inputs::Input;
use vidclass::video::{self, DecodeOptions, FfmpegLog, Video};
use vidclass::{Classifier, ModelCard};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(clip), Some(weights)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: classify CLIP WEIGHTS (a slowfast-r50-4x16-k400 checkpoint)");
    };
    vidclass::memory::reuse_freed_memory();
    video::init(FfmpegLog::Quiet);
    let card = ModelCard::builtin("slowfast-r50-4x16-k400")?;
    let labels = vidclass::zoo::labels(&card.labels)?;
    let model = Classifier::new(&card, weights.as_ref(), labels, card.views.fast, Device::Cpu)?;
    let video = Video::open(Input::File(clip.into()), DecodeOptions::default())?;
    let result = model.classify(&model.prepare(&video)?)?;
    for entry in vidclass::output::top_k(&result.scores, model.labels(), 5, 0.0) {
        println!("{:.4}  {}", entry.score, entry.label);
    }
    println!("features: {:?}", result.features.dims());
    Ok(())
}
