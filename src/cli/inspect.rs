//! `vidclass inspect VIDEO`: what a model will see of a video.
//!
//! Prints the container facts sampling depends on (frame count as decord counts it, rotation)
//! and, per clip, the sampled frame numbers and their times. It can also draw the cropped
//! views as a contact sheet and dump the exact normalised input tensor, which is how a
//! parity question ("does vidclass feed the model what mmaction2 feeds it?") gets answered.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use candle_core::Device;
use clap::Args;
use serde_json::json;

use vidclass::contact_sheet::{self, Tile};
use vidclass::error::{one_line_name, one_line_path};
use vidclass::inputs::{self, Extensions, Input, Job};
use vidclass::model::save_safetensors;
use vidclass::output::base64;
use vidclass::prepare::{PreparedInput, ViewProtocol, prepare};
use vidclass::video::Video;
use vidclass::writable::{OutputKind, same_file};
use vidclass::zoo::ModelCard;

use super::model_args::{DEFAULT_MODEL, ViewArgs, load_card};
use super::{Globals, Status, error_line};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Video file, URL, or `-` for video bytes on stdin.
    video: OsString,

    /// The model whose view protocol to show (a name from `vidclass models` or a card file).
    #[arg(short, long, default_value = DEFAULT_MODEL)]
    model: String,

    #[command(flatten)]
    views: ViewArgs,

    /// Write a PNG grid of the sampled, cropped frames (one row per view, or per crop for
    /// single-frame clips).
    #[arg(long, value_name = "PNG")]
    contact_sheet: Option<PathBuf>,

    /// Write the normalised input tensor to a `.safetensors` file, under the key `input`.
    #[arg(long, value_name = "SAFETENSORS")]
    dump_input: Option<PathBuf>,

    /// Print JSON instead of a readable report.
    #[arg(long)]
    json: bool,
}

/// Arguments, the model card and where the outputs go are checked before the video is read
/// (exit 2); a video that cannot be read is a failed input (exit 1), as in `predict`.
pub fn run(args: InspectArgs, globals: Globals) -> anyhow::Result<Status> {
    let card = load_card(&args.model)?;
    let protocol = args.views.protocol(&card)?;
    if let Some(path) = &args.contact_sheet {
        super::check_output(path, "--contact-sheet", OutputKind::Png, Some("png"))?;
    }
    if let Some(path) = &args.dump_input {
        super::check_output(path, "--dump-input", OutputKind::InputDump, None)?;
    }
    if let (Some(sheet), Some(dump)) = (&args.contact_sheet, &args.dump_input) {
        ensure!(
            !same_file(sheet, dump),
            "--contact-sheet and --dump-input both name {}",
            one_line_path(sheet)
        );
    }
    if let Some(path) = &args.dump_input {
        super::check_safetensors_name(path, "--dump-input")?;
    }
    // A folder is refused even when it holds a single video: which one runs should not depend on
    // what else is in it.
    let a_folder =
        || format!("inspect takes one video; {} is a folder", one_line_name(&args.video.to_string_lossy()));
    ensure!(!Path::new(&args.video).is_dir(), a_folder());
    let mut jobs = inputs::jobs_of(&args.video, &Extensions::default());
    let input = match (jobs.pop(), jobs.is_empty()) {
        (Some(Job::Input(input)), true) => input,
        (Some(Job::Error { error, .. }), true) => return Ok(input_failed(error.into())),
        _ => bail!(a_folder()),
    };
    if let Input::File(video) = &input {
        for (flag, output) in [("--contact-sheet", &args.contact_sheet), ("--dump-input", &args.dump_input)] {
            if let Some(output) = output {
                ensure!(
                    !same_file(video, output),
                    "{flag} {}: is the video being inspected",
                    one_line_path(output)
                );
            }
        }
    }
    let opened = Video::open(input, globals.decode)
        .and_then(|video| prepare(&video, &protocol).map(|prepared| (video, prepared)));
    let (video, prepared) = match opened {
        Ok(opened) => opened,
        Err(error) => return Ok(input_failed(error.into())),
    };
    for warning in prepared.warnings().iter().filter(|_| !globals.quiet) {
        super::say(format_args!("warning: {}: {warning}", one_line_name(&video.name())));
    }

    // The files first: a reader that closes stdout early (`| head`) ends the run quietly, and
    // must not take the files with it.
    if let Some(path) = &args.contact_sheet {
        write_contact_sheet(path, &video, &prepared).map_err(|e| anyhow::anyhow!("--contact-sheet {e}"))?;
    }
    if let Some(path) = &args.dump_input {
        let layout = card.architecture.input_layout();
        let tensor = prepared.views.tensor(0..prepared.views.len(), &card.normalize, layout, &Device::Cpu)?;
        save_safetensors(&HashMap::from([("input", tensor)]), path)
            .map_err(|e| anyhow::anyhow!("--dump-input {e}"))?;
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", report_json(&video, &card, &protocol, &prepared))
    } else {
        write_report(&mut out, &video, &card, &protocol, &prepared)
    };
    written.and_then(|()| out.flush()).context(super::CANNOT_WRITE)?;
    Ok(Status::Success)
}

fn write_report(
    out: &mut impl Write,
    video: &Video,
    card: &ModelCard,
    protocol: &ViewProtocol,
    prepared: &PreparedInput,
) -> std::io::Result<()> {
    let info = video.info();
    writeln!(out, "input:      {}", one_line_name(&video.name()))?;
    writeln!(out, "container:  {}", info.container)?;
    writeln!(out, "codec:      {} ({})", info.codec, info.pixel_format)?;
    let turned = match info.rotation {
        0 => String::new(),
        degrees => format!(", turned {degrees}° clockwise to stand upright"),
    };
    writeln!(
        out,
        "size:       {}x{} (coded {}x{}{turned})",
        info.width, info.height, info.coded_width, info.coded_height
    )?;
    writeln!(out, "fps:        {:.3}", info.fps)?;
    let header = info.header_frame_count.map_or("none".to_string(), |n| n.to_string());
    let numbering = if info.numbered_by_decoder_output { "; numbered in decoder output order" } else { "" };
    let damaged = match info.damaged_packets {
        0 => String::new(),
        n => format!("; {n} damaged packet(s) skipped"),
    };
    writeln!(out, "frames:     {} (header says {header}{numbering}{damaged})", info.frame_count)?;
    if let Some(d) = info.duration {
        writeln!(out, "duration:   {d:.3} s")?;
    }
    let s = protocol.sample;
    writeln!(out, "model:      {}", card.name)?;
    writeln!(
        out,
        "sampling:   clip_len {} × interval {} × {} clip(s); short side {}; {} crop {} → {} view(s)",
        s.clip_len,
        s.frame_interval,
        s.num_clips,
        protocol.resize_short_side,
        format!("{:?}", protocol.crop.kind).to_lowercase(),
        protocol.crop.size,
        prepared.views.len()
    )?;
    if prepared.lost_frames > 0 {
        let lost = prepared.lost_frames;
        writeln!(out, "lost:       {lost} sampled frame(s) could not be decoded; their neighbours stand in")?;
    }
    for (c, clip) in prepared.frame_indices.iter().enumerate() {
        let frames: Vec<String> = clip.iter().map(|&i| format!("{i}@{:.3}s", video.timestamp(i))).collect();
        writeln!(out, "clip {c}: {}", frames.join(" "))?;
    }
    Ok(())
}

fn report_json(
    video: &Video,
    card: &ModelCard,
    protocol: &ViewProtocol,
    prepared: &PreparedInput,
) -> serde_json::Value {
    let info = video.info();
    let clips: Vec<_> = prepared
        .frame_indices
        .iter()
        .map(|clip| json!({"frames": clip, "times": clip.iter().map(|&i| video.timestamp(i)).collect::<Vec<_>>()}))
        .collect();
    let mut report = json!({
        "input": video.name(),
        "container": info.container,
        "codec": info.codec,
        "pixel_format": info.pixel_format,
        "width": info.width,
        "height": info.height,
        "coded_width": info.coded_width,
        "coded_height": info.coded_height,
        "rotation_clockwise": info.rotation,
        "fps": info.fps,
        "frame_count": info.frame_count,
        "damaged_packets": info.damaged_packets,
        "header_frame_count": info.header_frame_count,
        "frames_numbered_by": if info.numbered_by_decoder_output { "decoder output" } else { "timestamp" },
        "duration": info.duration,
        "model": card.name,
        "protocol": protocol,
        "views": prepared.views.len(),
        "lost_frames": prepared.lost_frames,
        "warnings": prepared.warnings(),
        "clips": clips,
    });
    // As `predict`'s records: only where the name had to be changed to be shown.
    if let Some(bytes) = video.name_bytes() {
        report["input_bytes"] = base64(&bytes).into();
    }
    report
}

/// Says why the video could not be inspected.
fn input_failed(error: anyhow::Error) -> Status {
    super::say(format_args!("{}", error_line(&error)));
    Status::SomeFailed
}

/// One row per view; where every clip is a single frame (TSN), one row per crop instead, with a
/// column per clip, so that 250 views make a 10 × 25 grid rather than a column 250 tiles long.
fn write_contact_sheet(path: &Path, video: &Video, prepared: &PreparedInput) -> anyhow::Result<()> {
    let clips = prepared.frame_indices.len();
    // Views are crop-major: view `v` is clip `v % clips`.
    let views: Vec<Vec<Tile>> = prepared
        .views
        .frames
        .iter()
        .enumerate()
        .map(|(v, frames)| {
            let indices = &prepared.frame_indices[v % clips];
            frames
                .iter()
                .zip(indices)
                .map(|(frame, &i)| Tile { frame, caption: format!("#{i} {:.2}s", video.timestamp(i)) })
                .collect()
        })
        .collect();
    let rows = if views.iter().all(|tiles| tiles.len() == 1) {
        let mut tiles = views.into_iter().flatten();
        (0..prepared.views.frames.len() / clips).map(|_| tiles.by_ref().take(clips).collect()).collect()
    } else {
        views
    };
    contact_sheet::write(path, &rows)?;
    Ok(())
}
