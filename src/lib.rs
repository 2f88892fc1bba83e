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
