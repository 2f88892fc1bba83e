//! vidclass: tell what people are doing in a video.
//!
//! The library mirrors the command-line pipeline: decode a video ([`video`]), pick the frames a
//! model's test protocol samples ([`sample`]), turn them into the exact tensors mmaction2 builds
//! ([`transform`]), run the network ([`model`]) and average the views into class scores.

pub mod error;

pub use error::{Error, Result};
pub mod model;
pub mod nn;
pub mod sample;
pub mod transform;

pub use model::{Architecture, Averaging, ModelOutput, Recognizer, average_views, convert_checkpoint};
pub mod zoo;

pub use zoo::ModelCard;
