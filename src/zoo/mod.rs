//! The published models vidclass knows: one TOML card per mmaction2 model-zoo checkpoint
//! (`models/*.toml`, embedded in the binary) and the label maps they name (`assets/`).

mod card;
pub mod fetch;
mod labels;

pub use card::{CheckpointRef, Metrics, ModelCard, Views};
pub use labels::labels;
