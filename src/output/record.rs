//! The records a printer writes: one per input, either a prediction or the reason it failed.
//!
//! They are plain data with public fields so that the pipeline fills them in and every printer
//! reads the same thing. Field order here is the key order of the JSON formats, which scripts see.

use serde::{Deserialize, Serialize};

/// One ranked class of a prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopEntry {
    /// Human-readable class name from the model's label map.
    pub label: String,
    /// Class index in the model's output (0-based), stable across label map spellings.
    pub index: usize,
    /// The class score (a probability after softmax, averaged over views).
    pub score: f32,
}

/// The result of classifying one input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The input as the user gave it (path, URL or `-`); non-UTF-8 paths are converted lossily,
    /// with invalid bytes shown as U+FFFD, because every output format is text.
    pub input: String,
    /// Name of the model that produced the scores.
    pub model: String,
    /// The best classes, highest score first.
    pub top: Vec<TopEntry>,
    /// Number of views (clips × crops) averaged into the scores.
    pub views: usize,
    /// Number of distinct frames sampled and decoded from the input.
    pub frames: usize,
    /// Wall-clock milliseconds spent decoding and preprocessing.
    pub decode_ms: u64,
    /// Wall-clock milliseconds spent in the network.
    pub infer_ms: u64,
}

/// An input that could not be classified; the batch reports it and goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The input as the user gave it (lossy for non-UTF-8 paths, as in [`Prediction::input`]).
    pub input: String,
    /// The one-line error message.
    pub error: String,
}

/// What a printer writes for one input.
///
/// Serialises without a tag: a failure is recognised by its `error` key, a prediction by `top`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// The input was classified.
    Prediction(Prediction),
    /// The input failed.
    Failure(Failure),
}

impl Record {
    /// A failure record for `input` with the error's one-line message.
    pub fn failure(input: impl Into<String>, error: &impl std::fmt::Display) -> Self {
        Record::Failure(Failure { input: input.into(), error: error.to_string() })
    }

    /// The input this record is about.
    pub fn input(&self) -> &str {
        match self {
            Record::Prediction(p) => &p.input,
            Record::Failure(f) => &f.input,
        }
    }
}

impl From<Prediction> for Record {
    fn from(p: Prediction) -> Self {
        Record::Prediction(p)
    }
}

impl From<Failure> for Record {
    fn from(f: Failure) -> Self {
        Record::Failure(f)
    }
}
