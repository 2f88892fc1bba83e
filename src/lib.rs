//! vidclass: tell what people are doing in a video.
//!
//! The library mirrors the command-line pipeline: decode a video ([`video`]), pick the frames a
//! model's test protocol samples ([`sample`]), turn them into the exact tensors mmaction2 builds
//! ([`transform`]), run the network ([`model`]) and average the views into class scores.
//!
//! [`Classifier`] does all of it: [`Classifier::new`] loads a [`ModelCard`]'s network with its
//! weights, [`Classifier::prepare`] decodes and transforms a [`video::Video`]'s views, and
//! [`Classifier::classify`] runs them. [`Recognizer`] is the network alone, on tensors of your own.
//! Both are `Send + Sync`: one loaded model serves many threads, and each call spreads its CPU
//! work over rayon's global pool, so calls side by side share its threads rather than add to them.
//!
//! Classifying one video with a built-in card's single-view protocol (the whole program is
//! `examples/classify.rs`):
//!
//! ```no_run
//! use candle_core::Device;
//! use vidclass::inputs::Input;
//! use vidclass::video::{self, DecodeOptions, FfmpegLog, Video};
//! use vidclass::{Classifier, ModelCard};
//!
//! # fn main() -> vidclass::Result<()> {
//! video::init(FfmpegLog::Quiet);
//! let card = ModelCard::builtin("slowfast-r50-4x16-k400")?;
//! let labels = vidclass::zoo::labels(&card.labels)?;
//! let weights = std::path::Path::new("slowfast_r50_4x16.pth");
//! let model = Classifier::new(&card, weights, labels, card.views.fast, Device::Cpu)?;
//! let video = Video::open(Input::File("clip.mp4".into()), DecodeOptions::default())?;
//! let result = model.classify(&model.prepare(&video)?)?;
//! for entry in vidclass::output::top_k(&result.scores, model.labels(), 5, 0.0) {
//!     println!("{:.4}  {}", entry.score, entry.label);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Process-wide state is left to the caller: [`video::init`] sets FFmpeg's log level (which FFmpeg
//! shares with anything else in the process that uses it), and [`memory::reuse_freed_memory`]
//! keeps freed memory for the next forward instead of returning it to the system.

pub mod classify;
pub mod contact_sheet;
pub mod device;
pub mod error;
pub mod frame;
mod http;
pub mod inputs;
pub mod memory;
pub mod model;
pub mod nn;
pub mod output;
pub mod pipeline;
pub mod prepare;
pub mod sample;
pub mod transform;
pub mod unfinished;
pub mod video;
pub mod writable;
pub mod zoo;

pub use classify::{Classification, Classifier};
pub use error::{Error, Result};
pub use model::{Architecture, Averaging, ModelOutput, Recognizer, average_views, convert_checkpoint};
pub use zoo::ModelCard;
