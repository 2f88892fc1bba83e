//! `vidclass models`, `vidclass fetch` and `vidclass convert`: managing model cards and weights.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use vidclass::writable::OutputKind;
use vidclass::zoo::fetch::Transfer;
use vidclass::zoo::{Metrics, ModelCard};

use super::model_args::{DEFAULT_MODEL, WeightsDownload, cached_weights, load_card};
use super::{Globals, Status, error_line};

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON Lines (one object per card) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Model names (see `vidclass models`) or card files.
    #[arg(required = true)]
    models: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Checkpoint to read (mmaction2 `.pth` or `.safetensors`).
    input: PathBuf,
    /// Safetensors file to write (named `.safetensors`).
    output: PathBuf,
    /// Store the weights as float16 (half the size; results move by f16 rounding). Refused for
    /// weights beyond its range (±65504).
    #[arg(long)]
    f16: bool,
}

pub fn list(args: ModelsArgs) -> anyhow::Result<Status> {
    let cards = ModelCard::all()?;
    let mut out = std::io::stdout().lock();
    write_list(&mut out, &cards, args.json).and_then(|()| out.flush()).context(super::CANNOT_WRITE)?;
    Ok(Status::Success)
}

/// The cards as a table, or as JSON lines.
fn write_list(out: &mut impl Write, cards: &[ModelCard], json: bool) -> std::io::Result<()> {
    let present = |card: &ModelCard| cached_weights(card).is_some_and(|path| path.is_file());
    if json {
        for card in cards {
            let full = card.views.full;
            let metric = |f: fn(&Metrics) -> f64| card.metrics.as_ref().map(f);
            let record = json!({
                "name": card.name,
                "description": card.description,
                "top1": metric(|m| m.top1),
                "top5": metric(|m| m.top5),
                "gflops": metric(|m| m.gflops),
                "gflops_per_view": card.gflops_per_view(),
                "params_m": metric(|m| m.params_m),
                "full_views": full.num_views(),
                "default": card.name == DEFAULT_MODEL,
                "weights_present": present(card),
                "url": card.checkpoint.as_ref().map(|c| &c.url),
            });
            writeln!(out, "{record}")?;
        }
    } else {
        writeln!(
            out,
            "{:<34} {:>6} {:>6} {:>8} {:>10}  weights",
            "model", "top1", "top5", "GFLOPs", "full views"
        )?;
        for card in cards {
            let weights = if present(card) { "present" } else { "-" };
            let shown = |f: fn(&Metrics) -> f64, decimals: usize| {
                card.metrics.as_ref().map_or("-".to_owned(), |m| format!("{:.decimals$}", f(m)))
            };
            let views = card.views.full.num_views();
            let name = if card.name == DEFAULT_MODEL {
                format!("{} (default)", card.name)
            } else {
                card.name.clone()
            };
            writeln!(
                out,
                "{name:<34} {:>6} {:>6} {:>8} {views:>10}  {weights}",
                shown(|m| m.top1, 2),
                shown(|m| m.top5, 2),
                shown(|m| m.gflops, 1)
            )?;
        }
        writeln!(out, "\nGFLOPs per view as the model zoo lists them, except TSN's: per 25 frames.")?;
    }
    Ok(())
}

/// Every name must be a model with a checkpoint to download, into a cache folder, before anything
/// downloads (anything else is a usage error, 2, as for `predict`); a download that fails does not
/// stop the others (1). A file already in the cache is checked against its published hash here
/// (not on every `predict`, where that would cost a second or so): one cut short or replaced by
/// hand is downloaded again.
pub fn fetch(args: FetchArgs, globals: Globals) -> anyhow::Result<Status> {
    let mut problems = Vec::new();
    let cards: Vec<_> = (args.models.iter())
        .filter_map(|name| load_card(name).map(|card| (name, card)).map_err(|e| problems.push(e)).ok())
        .collect();
    let downloads: Vec<_> = (cards.iter())
        .filter_map(|(name, card)| {
            WeightsDownload::of(card, name).map(|d| (name, d)).map_err(|e| problems.push(e)).ok()
        })
        .collect();
    // Every problem said at once, the last one as the run's error.
    if let Some(last) = problems.pop() {
        for error in problems {
            super::say(format_args!("{}", error_line(&error)));
        }
        return Err(last);
    }
    let mut failed = false;
    for (name, download) in downloads {
        let transfer = Transfer { recheck: true, ..globals.transfer() };
        match download.fetch(transfer) {
            Ok(path) => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{name}\t{}", path.display())
                    .and_then(|()| out.flush())
                    .context(super::CANNOT_WRITE)?;
            }
            Err(e) => {
                super::say(format_args!("{name}: {}", error_line(&e.into())));
                failed = true;
            }
        }
    }
    Ok(if failed { Status::SomeFailed } else { Status::Success })
}

pub fn convert(args: ConvertArgs) -> anyhow::Result<Status> {
    super::check_output(&args.output, "convert", OutputKind::Safetensors, None)?;
    super::check_safetensors_name(&args.output, "convert")?;
    // What befalls the output (the input's own name, a full disk) is named as the checks are.
    vidclass::convert_checkpoint(&args.input, &args.output, args.f16).map_err(|e| match e {
        vidclass::Error::Io { ref path, .. } if *path == args.output => anyhow::anyhow!("convert {e}"),
        e => e.into(),
    })?;
    Ok(Status::Success)
}
