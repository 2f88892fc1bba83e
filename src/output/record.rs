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
    /// The name's bytes in standard base64, only where `input` had to replace some (a path that
    /// is not UTF-8): two such names can read alike, and a script needs the bytes to find the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_bytes: Option<String>,
    /// Name of the model that produced the scores.
    pub model: String,
    /// The best classes, highest score first.
    pub top: Vec<TopEntry>,
    /// Number of views (clips × crops) averaged into the scores.
    pub views: usize,
    /// Number of distinct frames sampled from the input (one that could not be decoded counts too:
    /// its neighbour stands in for it, and the run warns).
    pub frames: usize,
    /// Wall-clock milliseconds spent decoding and preprocessing.
    pub decode_ms: u64,
    /// Wall-clock milliseconds spent in the network.
    pub infer_ms: u64,
    /// What the run warned of on stderr for this input (frames replaced, a file cut short), so
    /// that a script sees it too; only where there is any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An input that could not be classified; the batch reports it and goes on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The input as the user gave it (lossy for non-UTF-8 paths, as in [`Prediction::input`]).
    pub input: String,
    /// As [`Prediction::input_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_bytes: Option<String>,
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
        Record::Failure(Failure { input: input.into(), input_bytes: None, error: error.to_string() })
    }

    /// The record with the input name's exact `bytes` (see [`Prediction::input_bytes`]).
    pub fn with_input_bytes(mut self, bytes: Option<&[u8]>) -> Self {
        let encoded = bytes.map(base64);
        match &mut self {
            Record::Prediction(p) => p.input_bytes = encoded,
            Record::Failure(f) => f.input_bytes = encoded,
        }
        self
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

/// `bytes` in standard base64 (RFC 4648, with padding): how JSON carries a name's exact bytes.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (i, &b)| group | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            let shown = i <= chunk.len();
            text.push(if shown { ALPHABET[(group >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (bytes, text) in vectors {
            assert_eq!(base64(bytes.as_bytes()), text, "{bytes:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xe9]), "//7p");
    }
}
