//! `vidclass inspect VIDEO`: what a model will see of a video.
//!
//! Prints the container facts sampling depends on (frame count as decord counts it, rotation)
//! and, per clip, the sampled frame numbers and their times. It can also draw the cropped
//! views as a contact sheet and dump the exact normalised input tensor, which is how a
//! parity question ("does vidclass feed the model what mmaction2 feeds it?") gets answered.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use clap::Args;
use serde_json::json;

use vidclass::contact_sheet::{self, Tile};
use vidclass::prepare::{PreparedInput, ViewProtocol, prepare};
use vidclass::sample::SampleFrames;
use vidclass::transform::{Crop, CropKind, Layout, Normalize};
use vidclass::video::{DecodeOptions, Video, VideoSource};

use super::Status;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Video file, URL, or `-` for video bytes on stdin.
    video: String,

    /// Frames per clip (`clip_len`); 1 samples TSN-style segments.
    #[arg(long, default_value_t = 32)]
    clip_len: usize,

    /// Distance between sampled frames within a clip (`frame_interval`).
    #[arg(long, default_value_t = 2)]
    frame_interval: usize,

    /// Number of clips spread over the video (`num_clips`).
    #[arg(long, default_value_t = 1)]
    num_clips: usize,

    /// Crops of every clip.
    #[arg(long, value_enum, default_value_t = CropArg::Center)]
    crop: CropArg,

    /// Crop size in pixels.
    #[arg(long, default_value_t = 224)]
    crop_size: usize,

    /// Short side after resizing.
    #[arg(long, default_value_t = 256)]
    short_side: usize,

    /// Tensor layout for --dump-input: NCTHW for 3-D models, NCHW for 2-D (TSN).
    #[arg(long, value_enum, default_value_t = LayoutArg::Ncthw)]
    layout: LayoutArg,

    /// Write a PNG grid of the sampled, cropped frames (one row per view).
    #[arg(long, value_name = "PNG")]
    contact_sheet: Option<PathBuf>,

    /// Write the normalised input tensor to a safetensors file, under the key `input`.
    #[arg(long, value_name = "SAFETENSORS")]
    dump_input: Option<PathBuf>,

    /// Print JSON instead of a readable report.
    #[arg(long)]
    json: bool,

    /// Decoder threads (0: FFmpeg decides).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CropArg {
    Center,
    Three,
    Ten,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LayoutArg {
    Ncthw,
    Nchw,
}

pub fn run(args: InspectArgs, quiet: bool) -> anyhow::Result<Status> {
    let protocol = ViewProtocol {
        sample: SampleFrames {
            clip_len: args.clip_len,
            frame_interval: args.frame_interval,
            num_clips: args.num_clips,
        },
        resize_short_side: args.short_side,
        crop: Crop {
            kind: match args.crop {
                CropArg::Center => CropKind::Center,
                CropArg::Three => CropKind::Three,
                CropArg::Ten => CropKind::Ten,
            },
            size: args.crop_size,
        },
    };
    let layout = match args.layout {
        LayoutArg::Ncthw => Layout::Ncthw,
        LayoutArg::Nchw => Layout::Nchw,
    };
    let video = Video::open(VideoSource::from_arg(&args.video), DecodeOptions { threads: args.threads })?;
    let prepared = prepare(&video, &protocol)?;
    if prepared.lost_frames > 0 && !quiet {
        eprintln!(
            "vidclass: warning: {}: {} sampled frame(s) could not be decoded and were replaced by their neighbours",
            video.name(),
            prepared.lost_frames
        );
    }

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report_json(&video, &protocol, &prepared))?;
    } else {
        write_report(&mut out, &video, &protocol, &prepared)?;
    }
    out.flush()?;

    if let Some(path) = &args.contact_sheet {
        write_contact_sheet(path, &video, &prepared)?;
    }
    if let Some(path) = &args.dump_input {
        let tensor =
            prepared.views.tensor(0..prepared.views.len(), &Normalize::IMAGENET, layout, &Device::Cpu)?;
        candle_core::safetensors::save(&HashMap::from([("input".to_string(), tensor)]), path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(Status::Success)
}

fn write_report(
    out: &mut impl Write,
    video: &Video,
    protocol: &ViewProtocol,
    prepared: &PreparedInput,
) -> std::io::Result<()> {
    let info = video.info();
    writeln!(out, "input:      {}", video.name())?;
    writeln!(out, "container:  {}", info.container)?;
    writeln!(out, "codec:      {} ({})", info.codec, info.pixel_format)?;
    writeln!(
        out,
        "size:       {}x{} (coded {}x{}, rotation {}°)",
        info.width, info.height, info.coded_width, info.coded_height, info.rotation
    )?;
    writeln!(out, "fps:        {:.3}", info.fps)?;
    let header = info.header_frame_count.map_or("none".to_string(), |n| n.to_string());
    writeln!(out, "frames:     {} (header says {header})", info.frame_count)?;
    if let Some(d) = info.duration {
        writeln!(out, "duration:   {d:.3} s")?;
    }
    let s = protocol.sample;
    writeln!(
        out,
        "sampling:   clip_len {} × interval {} × {} clip(s); short side {}; {:?} crop {} → {} view(s)",
        s.clip_len,
        s.frame_interval,
        s.num_clips,
        protocol.resize_short_side,
        protocol.crop.kind,
        protocol.crop.size,
        prepared.views.len()
    )?;
    for (c, clip) in prepared.frame_indices.iter().enumerate() {
        let frames: Vec<String> = clip.iter().map(|&i| format!("{i}@{:.3}s", video.timestamp(i))).collect();
        writeln!(out, "clip {c}: {}", frames.join(" "))?;
    }
    Ok(())
}

fn report_json(video: &Video, protocol: &ViewProtocol, prepared: &PreparedInput) -> serde_json::Value {
    let info = video.info();
    let clips: Vec<_> = prepared
        .frame_indices
        .iter()
        .map(|clip| json!({"frames": clip, "times": clip.iter().map(|&i| video.timestamp(i)).collect::<Vec<_>>()}))
        .collect();
    json!({
        "input": video.name(),
        "container": info.container,
        "codec": info.codec,
        "pixel_format": info.pixel_format,
        "width": info.width,
        "height": info.height,
        "coded_width": info.coded_width,
        "coded_height": info.coded_height,
        "rotation": info.rotation,
        "fps": info.fps,
        "frame_count": info.frame_count,
        "header_frame_count": info.header_frame_count,
        "duration": info.duration,
        "protocol": protocol,
        "views": prepared.views.len(),
        "lost_frames": prepared.lost_frames,
        "clips": clips,
    })
}

fn write_contact_sheet(
    path: &std::path::Path,
    video: &Video,
    prepared: &PreparedInput,
) -> anyhow::Result<()> {
    let clips = prepared.frame_indices.len();
    let rows: Vec<Vec<Tile>> = prepared
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
    contact_sheet::write(path, &rows)?;
    Ok(())
}
