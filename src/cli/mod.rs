//! The command line: clap definitions, one file per subcommand.
//!
//! Each subcommand module owns its arguments struct and a `run` function returning the exit
//! status it wants; this file only dispatches. Results go to stdout, everything else
//! (progress, warnings) to stderr.

mod inspect;

use clap::{Parser, Subcommand};

use vidclass::video::{self, FfmpegLog};

/// Tell what people are doing in a video.
#[derive(Debug, Parser)]
#[command(name = "vidclass", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Show FFmpeg's warnings (-v) or everything it says (-vv) on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Print results only: no progress bars or warnings.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a model will see of a video: metadata, sampled frames, crops.
    Inspect(inspect::InspectArgs),
}

/// Process exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything asked for was done.
    Success = 0,
    /// Nothing could run: bad arguments, model or weights.
    Fatal = 2,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    video::init(match (cli.quiet, cli.verbose) {
        (true, _) | (false, 0) => FfmpegLog::Quiet,
        (false, 1) => FfmpegLog::Warnings,
        _ => FfmpegLog::Verbose,
    });
    match cli.command {
        Command::Inspect(args) => inspect::run(args, cli.quiet),
    }
}
