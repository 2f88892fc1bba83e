//! Model cards: everything needed to run one published checkpoint the way its mmaction2 config
//! does — architecture, view protocols, normalisation, averaging, labels — plus where the weights
//! live and what accuracy they were published with.
//!
//! Built-in cards are `models/*.toml`, embedded at compile time; users can pass their own file
//! with the same schema (`ModelCard::from_file`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::{Architecture, Averaging};
use crate::prepare::ViewProtocol;
use crate::transform::Normalize;
use crate::{Error, Result};

/// The embedded cards, by name.
const BUILTIN: &[(&str, &str)] = &[
    ("slowfast-r50-4x16-k400", include_str!("../../models/slowfast-r50-4x16-k400.toml")),
    ("slowfast-r50-8x8-k400", include_str!("../../models/slowfast-r50-8x8-k400.toml")),
    ("slowfast-r50-8x8-steplr-k400", include_str!("../../models/slowfast-r50-8x8-steplr-k400.toml")),
    ("slowfast-r101-8x8-k400", include_str!("../../models/slowfast-r101-8x8-k400.toml")),
    ("slowfast-r101-r50-4x16-k400", include_str!("../../models/slowfast-r101-r50-4x16-k400.toml")),
    ("slowonly-r50-4x16-k400", include_str!("../../models/slowonly-r50-4x16-k400.toml")),
    ("slowonly-r50-8x8-k400", include_str!("../../models/slowonly-r50-8x8-k400.toml")),
    ("slowonly-imagenet-r50-4x16-k400", include_str!("../../models/slowonly-imagenet-r50-4x16-k400.toml")),
    ("slowonly-imagenet-r50-8x8-k400", include_str!("../../models/slowonly-imagenet-r50-8x8-k400.toml")),
    ("i3d-r50-k400", include_str!("../../models/i3d-r50-k400.toml")),
    ("tsn-r50-1x1x3-k400", include_str!("../../models/tsn-r50-1x1x3-k400.toml")),
    ("tsn-r50-1x1x5-k400", include_str!("../../models/tsn-r50-1x1x5-k400.toml")),
    ("tsn-r50-1x1x8-k400", include_str!("../../models/tsn-r50-1x1x8-k400.toml")),
];

/// One published model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Short name used on the command line (`slowfast-r50-4x16-k400`).
    pub name: String,
    /// One line for listings.
    pub description: String,
    /// The mmaction2 config the checkpoint was trained and tested with.
    pub config: String,
    /// Label map name (see [`super::labels()`]).
    pub labels: String,
    /// How views are combined (`average_clips` of the config).
    pub averaging: Averaging,
    /// The network; fields the checkpoint determines may be left out.
    #[serde(deserialize_with = "architecture_naming_its_fields")]
    pub architecture: Architecture,
    /// `ActionDataPreprocessor` mean/std on RGB 0..255.
    pub normalize: Normalize,
    /// View protocols.
    pub views: Views,
    /// Where the weights are published (a card of one's own may leave it out and always be run
    /// with `--weights`).
    pub checkpoint: Option<CheckpointRef>,
    /// Published accuracy and cost (every built-in card has them).
    pub metrics: Option<Metrics>,
}

/// The two ways to look at a video.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Views {
    /// The config's `test_pipeline`: the protocol behind the published accuracy.
    pub full: ViewProtocol,
    /// The config's `val_pipeline`: one clip (TSN: its training segment count), one centre crop.
    pub fast: ViewProtocol,
}

/// The longest name of a cached checkpoint, in bytes: its `.part` file must fit the 255 bytes
/// most file systems allow a name.
const LONGEST_CACHE_NAME: usize = 250;

/// A published checkpoint file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    pub url: String,
    /// The first 8 hex digits of the file's SHA-256, as in its published name.
    pub sha256_prefix: String,
}

impl CheckpointRef {
    /// The file's name in the weights cache: the name the URL's path ends with (no query or
    /// fragment) where it ends in the hash's first 8 digits, as mmaction2's published names do
    /// (`…_20220906-cd10898e.pth`; a card may give more digits), and that name with `-<8 digits>`
    /// before its extension where not (a date in the name is no hash). A file in the cache is
    /// trusted without rehashing, so two cards whose URLs end alike (`…/ucf101/model.pth`,
    /// `…/hmdb51/model.pth`) must not share it unless they expect the same file. A name longer
    /// than 250 bytes has its stem cut short (the digits and extension kept), since no cache
    /// folder could hold it. `None` for a URL without a file name (`https://host`, `…/`, `…/..`).
    pub fn cache_name(&self) -> Option<String> {
        let name = self.file_name()?;
        let prefix: String = self.sha256_prefix.chars().take(8).map(|c| c.to_ascii_lowercase()).collect();
        // What follows the last dot is an extension only if it is short enough to keep whole when
        // the stem is cut (`.pth`, `.safetensors`), not the tail of a dotted name.
        let (stem, extension) = match name.rsplit_once('.') {
            Some((stem, extension)) if !stem.is_empty() && extension.len() <= 16 => (stem, Some(extension)),
            _ => (name, None),
        };
        let hashed = stem.to_ascii_lowercase().ends_with(&format!("-{prefix}"));
        if hashed && name.len() <= LONGEST_CACHE_NAME {
            return Some(name.to_owned());
        }
        let stem = if hashed { &stem[..stem.len() - prefix.len() - 1] } else { stem };
        let tail = match extension {
            Some(extension) => format!("-{prefix}.{extension}"),
            None => format!("-{prefix}"),
        };
        let room = LONGEST_CACHE_NAME - tail.len();
        let cut = (0..=room.min(stem.len())).rev().find(|&i| stem.is_char_boundary(i)).unwrap_or(0);
        Some(format!("{}{tail}", &stem[..cut]))
    }

    /// The file name the URL's path ends with, without query or fragment.
    fn file_name(&self) -> Option<&str> {
        let (_, rest) = self.url.split_once("://")?;
        let path = rest.split(['?', '#']).next()?;
        let (_, name) = path.rsplit_once('/')?;
        (!name.is_empty() && name != "." && name != "..").then_some(name)
    }
}

/// Kinetics-400 validation accuracy (full protocol) and cost, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub top1: f64,
    pub top5: f64,
    /// As the model zoo lists it: per view, except TSN's, which is per 25 frames.
    pub gflops: f64,
    /// Millions of parameters.
    pub params_m: f64,
}

/// The `[architecture]` table, read by its `type`. serde reads a tagged enum through a buffer that
/// forgets where a value came from: `depth = "50"` under `[architecture.slow]` read as "invalid
/// type: string, expected usize" with no field named. Read as the type's own config, a mistake
/// names its field (`in slow.depth`).
fn architecture_naming_its_fields<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Architecture, D::Error> {
    use serde::de::Error as _;
    let mut table = toml::Table::deserialize(deserializer)?;
    let kind = match table.remove("type") {
        Some(toml::Value::String(kind)) => kind,
        Some(other) => {
            return Err(D::Error::custom(format!("type: expected a string, found {}", other.type_str())));
        }
        None => return Err(D::Error::missing_field("type")),
    };
    let config = toml::Value::Table(table);
    let named = |e: toml::de::Error| D::Error::custom(e.to_string().trim_end().replace('\n', " "));
    match kind.as_str() {
        "tsn" => config.try_into().map(Architecture::Tsn).map_err(named),
        "resnet3d" => config.try_into().map(Architecture::Resnet3d).map_err(named),
        "slowfast" => config.try_into().map(|c| Architecture::Slowfast(Box::new(c))).map_err(named),
        other => Err(D::Error::unknown_variant(other, &["tsn", "resnet3d", "slowfast"])),
    }
}

impl ModelCard {
    /// The published cost of one view, in GFLOPs: the model zoo lists TSN's per 25 frames (25
    /// views of one frame), the others' per view. TSN's quotient keeps the two more decimals a
    /// division by 25 needs (102.7 → 4.108, not 4.1080000000000005).
    pub fn gflops_per_view(&self) -> Option<f64> {
        let gflops = self.metrics.as_ref()?.gflops;
        let per_frame = |gflops: f64| (gflops / 25.0 * 1e4).round() / 1e4;
        Some(if matches!(self.architecture, Architecture::Tsn(_)) { per_frame(gflops) } else { gflops })
    }

    /// The embedded card `name`.
    pub fn builtin(name: &str) -> Result<ModelCard> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            Error::Card {
                name: name.to_owned(),
                cause: format!("no such model (known: {})", known.join(", ")),
            }
        })?;
        Self::parse(name, text)
    }

    /// A card from a TOML file.
    pub fn from_file(path: &Path) -> Result<ModelCard> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => Error::Card {
                name: path.display().to_string(),
                cause: "not a model card (a card is TOML text, this file is not text)".into(),
            },
            std::io::ErrorKind::NotFound => {
                Error::Card { name: path.display().to_string(), cause: "no such file".into() }
            }
            std::io::ErrorKind::IsADirectory => Error::Card {
                name: path.display().to_string(),
                cause: "is a folder, not a model card".into(),
            },
            _ => Error::io(path, e),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// All embedded cards, in listing order.
    pub fn all() -> Result<Vec<ModelCard>> {
        BUILTIN.iter().map(|(name, text)| Self::parse(name, text)).collect()
    }

    fn parse(name: &str, text: &str) -> Result<ModelCard> {
        let card: ModelCard =
            toml::from_str(text).map_err(|e| Error::Card { name: name.to_owned(), cause: e.to_string() })?;
        card.check_values().map_err(|cause| Error::Card { name: name.to_owned(), cause })?;
        Ok(card)
    }

    /// Counts and sizes of both view protocols are at least 1, both pass
    /// [`ViewProtocol::problem`] (whether the network takes their clip shape is probed when it
    /// loads, see `Classifier::new`), a network can be built from the architecture
    /// ([`Architecture::problem`]), the normalisation divides by positive numbers, and a checkpoint
    /// is a file over http(s) with a hash to check it against.
    fn check_values(&self) -> std::result::Result<(), String> {
        if self.name.is_empty() || self.name.chars().any(char::is_control) {
            return Err(format!(
                "name: {:?} must be a name on one line, without control characters",
                self.name
            ));
        }
        let Normalize { mean, std } = self.normalize;
        if !mean.iter().all(|m| m.is_finite()) || !std.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(format!("normalize: mean {mean:?} must be finite and std {std:?} positive"));
        }
        if let Some(checkpoint @ CheckpointRef { url, sha256_prefix }) = &self.checkpoint {
            let digits = sha256_prefix.len();
            if !(8..=64).contains(&digits) || !sha256_prefix.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "checkpoint.sha256_prefix: {sha256_prefix:?} must be the first 8 to 64 hex digits of \
                     the file's SHA-256, which its download is checked against"
                ));
            }
            let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
            if !matches!(scheme.as_deref(), Some("http" | "https")) {
                return Err(format!(
                    "checkpoint.url: {url:?} must be an http:// or https:// URL (for a file on disk, \
                     pass --weights FILE)"
                ));
            }
            if checkpoint.file_name().is_none() {
                return Err(format!("checkpoint.url: {url:?} must end with the checkpoint's file name"));
            }
        }
        if let Some(problem) = self.architecture.problem() {
            return Err(problem);
        }
        for (which, views) in [("fast", &self.views.fast), ("full", &self.views.full)] {
            if let Some(field) = views.zero_field() {
                return Err(format!("views.{which}.{field} must be at least 1"));
            }
            if let Some(problem) = views.problem() {
                return Err(format!("views.{which}: {problem}"));
            }
        }
        Ok(())
    }
}
