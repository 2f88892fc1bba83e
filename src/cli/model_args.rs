//! Arguments shared by the commands that run a model: which card, which weights and labels, and
//! which views of the video.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use vidclass::error::{one_line_name, one_line_path};
use vidclass::prepare::ViewProtocol;
use vidclass::transform::{Crop, CropKind};
use vidclass::zoo::{self, CheckpointRef, ModelCard, fetch};

/// The model card `vidclass` uses when `--model` is not given.
pub const DEFAULT_MODEL: &str = "slowfast-r50-4x16-k400";

#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model card: a name from `vidclass models`, or the path of a card file (`.toml`).
    #[arg(short, long, default_value = DEFAULT_MODEL)]
    pub model: String,

    /// Use this checkpoint (`.pth` or `.safetensors`) instead of the card's download (offline use).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,

    /// Class names, one per line in class-index order, instead of the card's label map.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
}

impl ModelArgs {
    /// The model card `--model` names.
    pub fn card(&self) -> anyhow::Result<ModelCard> {
        load_card(&self.model)
    }

    /// The card as `--model` names it, for messages: a card file by its path, not by the name
    /// inside it, which may be a built-in card's.
    pub fn card_as_given(&self) -> String {
        one_line_name(&self.model)
    }

    /// The class names: `--labels` or the card's label map.
    pub fn labels(&self, card: &ModelCard) -> anyhow::Result<Vec<String>> {
        match &self.labels {
            Some(path) => {
                let context = || format!("--labels {}", one_line_path(path));
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!(vidclass::error::read_failure(&e)))
                    .with_context(context)?;
                let text = String::from_utf8(bytes).map_err(|e| {
                    let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count();
                    anyhow::anyhow!("line {line} is not UTF-8 text (save the file as UTF-8)")
                });
                let text = text.with_context(context)?;
                // A byte order mark (as Windows editors save UTF-8) is no part of the first name.
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                let mut names: Vec<String> =
                    text.lines().map(|l| l.trim_end_matches('\r').to_string()).collect();
                // Blank lines at the end are the file's end, not classes.
                while names.last().is_some_and(|name| name.trim().is_empty()) {
                    names.pop();
                }
                Ok(names)
            }
            None => zoo::labels(&card.labels).with_context(|| format!("model card {}", self.card_as_given())),
        }
    }

    /// `--weights`, checked to be a file, when it is given; `None` leaves the card's file in
    /// the cache ([`fetch_weights`]).
    pub fn given_weights(&self) -> anyhow::Result<Option<PathBuf>> {
        if let Some(path) = &self.weights {
            vidclass::model::Checkpoint::check_file(path)?;
        }
        Ok(self.weights.clone())
    }
}

/// A built-in card by name, or a card file by path (`.toml`, a name with a folder in it, or any
/// file). A built-in name wins over a file of that name in the current folder, which
/// `> tsn-r50-1x1x8-k400` creates before the command runs; `./NAME` reads such a file.
pub fn load_card(name: &str) -> anyhow::Result<ModelCard> {
    let builtin = ModelCard::builtin(name);
    let as_path = Path::new(name);
    let a_path = name.ends_with(".toml") || name.contains(std::path::MAIN_SEPARATOR) || as_path.is_file();
    if builtin.is_err() && a_path {
        return Ok(ModelCard::from_file(as_path)?);
    }
    Ok(builtin?)
}

/// Where a card's checkpoint comes from and where it goes in the weights cache.
pub struct WeightsDownload<'a> {
    checkpoint: &'a CheckpointRef,
    file_name: String,
    cache: PathBuf,
}

impl<'a> WeightsDownload<'a> {
    /// The download of `card`'s checkpoint; fails, naming the card as it was `given` (a file's
    /// path, not the name inside it, which may be a built-in card's), where there is no cache
    /// folder or nothing to download, which no download can change.
    pub fn of(card: &'a ModelCard, given: &str) -> anyhow::Result<Self> {
        let given = one_line_name(given);
        let cache = fetch::cache_dir().context(
            "no cache folder for weights: set VIDCLASS_CACHE (or HOME), or give predict the file with --weights \
             to work offline",
        )?;
        // Said before any download, as a usage error.
        fetch::check_cache_folder(&cache)?;
        let Some(checkpoint) = &card.checkpoint else {
            bail!(
                "model card {given}: names no checkpoint to download; predict takes its weights from --weights FILE"
            );
        };
        let Some(file_name) = checkpoint.cache_name() else {
            bail!("model card {given}: its checkpoint URL {} names no file", checkpoint.url);
        };
        Ok(WeightsDownload { checkpoint, file_name, cache })
    }

    /// The checkpoint in the cache, downloaded first when missing (or, with `transfer.recheck`,
    /// damaged).
    pub fn fetch(&self, transfer: fetch::Transfer) -> vidclass::Result<PathBuf> {
        let CheckpointRef { url, sha256_prefix } = self.checkpoint;
        fetch::fetch(url, sha256_prefix, &self.cache, &self.file_name, transfer)
    }
}

/// Where the card's checkpoint lives in the weights cache, whether it is there yet or not; None
/// without a cache folder or a checkpoint.
pub fn cached_weights(card: &ModelCard) -> Option<PathBuf> {
    Some(fetch::cache_dir()?.join(card.checkpoint.as_ref()?.cache_name()?))
}

/// Which views of each video the model sees.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// `fast`: the card's validation protocol (one clip, centre crop; TSN: its training segment
    /// count, e.g. 8); `full`: its published test protocol (e.g. 10 clips × 3 crops).
    #[arg(long, value_enum, default_value_t = ViewsArg::Fast)]
    pub views: ViewsArg,

    /// Number of clips (overrides the protocol's).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = super::parse_count)]
    pub clips: Option<usize>,

    /// Crops of every clip (overrides the protocol's). `three` crops the full short side; `center`
    /// and `ten` use the validation crop size.
    #[arg(long, value_enum)]
    pub crops: Option<CropsArg>,

    /// Frames per clip, overriding the protocol's (other values than the card's are not what the
    /// model was trained and tested with).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = super::parse_count)]
    pub clip_len: Option<usize>,

    /// Distance between sampled frames (overrides the protocol's; with one frame per clip, as in
    /// TSN, clips are spread over the video and this has no effect, as in mmaction2).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = super::parse_count)]
    pub frame_interval: Option<usize>,

    /// Crop size in pixels (overrides the protocol's).
    #[arg(long, value_name = "PIXELS", allow_negative_numbers = true, value_parser = super::parse_count)]
    pub crop_size: Option<usize>,

    /// Short side after resizing (overrides the protocol's).
    #[arg(long, value_name = "PIXELS", allow_negative_numbers = true, value_parser = super::parse_count)]
    pub short_side: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ViewsArg {
    Fast,
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CropsArg {
    Center,
    Three,
    Ten,
}

impl ViewArgs {
    /// The protocol: the card's `fast` or `full` views with the explicit overrides applied.
    pub fn protocol(&self, card: &ModelCard) -> anyhow::Result<ViewProtocol> {
        let mut protocol = match self.views {
            ViewsArg::Fast => card.views.fast,
            ViewsArg::Full => card.views.full,
        };
        let sample = &mut protocol.sample;
        sample.num_clips = self.clips.unwrap_or(sample.num_clips);
        sample.clip_len = self.clip_len.unwrap_or(sample.clip_len);
        sample.frame_interval = self.frame_interval.unwrap_or(sample.frame_interval);
        protocol.resize_short_side = self.short_side.unwrap_or(protocol.resize_short_side);
        if let Some(crops) = self.crops {
            protocol.crop = match crops {
                CropsArg::Center => Crop { kind: CropKind::Center, size: card.views.fast.crop.size },
                CropsArg::Three => Crop { kind: CropKind::Three, size: protocol.resize_short_side },
                CropsArg::Ten => Crop { kind: CropKind::Ten, size: card.views.fast.crop.size },
            };
        }
        // A three-crop covers the whole short side, whichever set it.
        let full_side = (protocol.crop.kind == CropKind::Three).then_some(protocol.resize_short_side);
        protocol.crop.size = self.crop_size.or(full_side).unwrap_or(protocol.crop.size);
        // The card's own values were checked when it was read.
        for (value, flag) in [
            (self.clips, "--clips"),
            (self.clip_len, "--clip-len"),
            (self.frame_interval, "--frame-interval"),
            (self.crop_size, "--crop-size"),
            (self.short_side, "--short-side"),
        ] {
            if value == Some(0) {
                bail!("{flag} must be at least 1");
            }
        }
        if let Some(problem) = protocol.problem() {
            bail!("{problem}");
        }
        Ok(protocol)
    }
}
