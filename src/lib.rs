//! vidclass: tell what people are doing in a video.
//!
//! The library mirrors the command-line pipeline: decode a video ([`video`]), pick the frames a
//! model's test protocol samples ([`sample`]), turn them into the exact tensors mmaction2 builds
//! ([`transform`]), run the network ([`model`]) and average the views into class scores.

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
