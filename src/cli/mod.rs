//! The command line: clap definitions, one file per subcommand.
//!
//! Each subcommand module owns its arguments and a `run` function returning the exit status it
//! wants; this file parses the global flags and dispatches. Results go to stdout; progress bars,
//! warnings and errors go to stderr.

mod inspect;
mod model_args;
mod models;
mod predict;

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::ProgressBar;

use vidclass::video::{self, DecodeOptions, FfmpegLog};
use vidclass::zoo::fetch::Transfer;

/// Where `--help` lists the options every subcommand takes, apart from its own.
const GLOBAL: &str = "Global options";

/// What a failed write of the results to stdout says (a full disk, `> /dev/full`), in every command.
pub const CANNOT_WRITE: &str = "cannot write the results to stdout";

/// Writes `vidclass: <line>` to stderr. A stderr that cannot be written (a reader that went
/// away, a full disk) must not stop a run whose results go to stdout, where `eprintln!` panics.
pub fn say(line: fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "vidclass: {line}");
}

/// Where downloaded weights are kept, as `fetch --help` and `models --help` say it.
macro_rules! cache_help {
    () => {
        "Weights are kept in $VIDCLASS_CACHE, else $XDG_CACHE_HOME/vidclass, else ~/.cache/vidclass."
    };
}

/// The environment variables that change how inputs are read (each an `Environment:` line).
macro_rules! input_environment {
    () => {
        "  SSL_CERT_FILE   certificates to trust for https inputs and downloads (else the system's)
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY
                  proxies for URL inputs and downloads
  TMPDIR          where a video from stdin, a pipe or a URL is kept beyond 256 MiB
"
    };
}

/// The `Environment:` line of the weights cache.
macro_rules! cache_environment {
    () => {
        "  VIDCLASS_CACHE  where downloaded weights are kept (else $XDG_CACHE_HOME/vidclass, else
                  ~/.cache/vidclass)
"
    };
}

/// The last line of every `Exit status:` block.
macro_rules! interrupted {
    () => {
        "  130, 143, 129   interrupted by Ctrl-C, kill, or a closed terminal"
    };
}

/// The end of `--help`: what the environment changes, and what the exit status says, for all
/// commands.
const AFTER_HELP: &str = concat!(
    "Environment:\n",
    cache_environment!(),
    input_environment!(),
    "
Exit status:
  0               every input classified (for the other commands: done)
  1               some inputs failed; the others were reported
  2               bad arguments, a model or weights error, a predict --files-from list that
                  stopped, or results that could not be written
",
    interrupted!()
);

/// The end of `predict --help`.
const PREDICT_HELP: &str = concat!(
    "Environment:\n",
    cache_environment!(),
    input_environment!(),
    "
Exit status:
  0               every input classified
  1               some inputs failed; the others were reported
  2               bad arguments, a model or weights error, a --files-from list that stopped, or
                  results that could not be written
",
    interrupted!()
);

/// The end of `inspect --help`.
const INSPECT_HELP: &str = concat!(
    "Environment:\n",
    input_environment!(),
    "
Exit status:
  0               the video was inspected, its files written
  1               the video could not be read
  2               bad arguments, a folder given, or files that could not be written
",
    interrupted!()
);

/// The end of `fetch --help`.
const FETCH_HELP: &str = concat!(
    cache_help!(),
    "

Exit status:
  0               every model's weights are in the cache, checked
  1               a download failed; the others were done
  2               bad arguments, an unknown model, a card without a checkpoint, or no cache folder
",
    interrupted!()
);

/// The end of `models --help`.
const MODELS_HELP: &str = concat!(
    cache_help!(),
    "

Exit status:
  0               the cards were listed
  2               the list could not be written"
);

/// The end of `convert --help`.
const CONVERT_HELP: &str = concat!(
    "Exit status:
  0               the checkpoint was written
  2               it could not be read or written, or it holds values float16 cannot keep (--f16)
",
    interrupted!()
);

/// Tell what people are doing in a video: mmaction2's action recognition models (SlowFast,
/// SlowOnly, I3D, TSN) with the reference's exact preprocessing, in one native binary.
#[derive(Debug, Parser)]
#[command(name = "vidclass", version, about, max_term_width = 100, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Show FFmpeg's warnings (-v), its verbose log (-vv) or its debugging output (-vvv) on stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    verbose: u8,

    /// Print results only: no progress bars or warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    quiet: bool,

    /// Threads for decoding and for the network (default: all cores).
    #[arg(long, global = true, value_name = "N", help_heading = GLOBAL, allow_negative_numbers = true, value_parser = parse_count)]
    threads: Option<usize>,

    /// Fail a URL input or a weights download when its server sends nothing for this many seconds.
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        value_name = "SECONDS",
        default_value_t = DecodeOptions::DEFAULT_URL_TIMEOUT.as_secs_f64(),
        allow_negative_numbers = true,
        value_parser = parse_seconds
    )]
    url_timeout: f64,
}

/// Seconds from a millisecond to a million (FFmpeg counts the timeout in microseconds, and 0 of
/// them would mean no timeout at all).
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (1e-3..=1e6).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds from 0.001 to 1000000")),
    }
}

/// A count (`-k`, `--clips`, `--threads`, …). Options taking numbers accept a leading `-`, so that
/// `-k -1` gets this message instead of clap's "unexpected argument" and its advice to write
/// `-- -1`, which then read as a missing value.
fn parse_count(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| match text.parse::<i128>() {
        Ok(n) if n < 0 => format!("`{text}` is negative"),
        Ok(_) => format!("`{text}` is too large"),
        Err(_) => format!("`{text}` is not a whole number"),
    })
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify videos: files, folders, URLs, `-` for stdin, or a list with --files-from.
    #[command(after_help = PREDICT_HELP)]
    Predict(predict::PredictArgs),
    /// Show what a model sees of a video: metadata, sampled frames, crops.
    #[command(after_help = INSPECT_HELP)]
    Inspect(inspect::InspectArgs),
    /// List the model cards, their published accuracy and whether their weights are present.
    #[command(after_help = MODELS_HELP)]
    Models(models::ModelsArgs),
    /// Download the weights of one or more models into the cache.
    #[command(after_help = FETCH_HELP)]
    Fetch(models::FetchArgs),
    /// Rewrite a checkpoint (.pth or .safetensors) as safetensors.
    #[command(after_help = CONVERT_HELP)]
    Convert(models::ConvertArgs),
}

/// Process exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything asked for was done.
    Success = 0,
    /// Some inputs failed; the others were reported.
    SomeFailed = 1,
    /// Bad arguments, model or weights stopped the run (before any input, or at the first input
    /// the network's overflowing scores failed), or the results could not be written.
    Fatal = 2,
}

/// What every command may need from the global flags.
#[derive(Clone, Copy, Debug)]
pub struct Globals {
    pub quiet: bool,
    /// Decoder threads and the URL timeout.
    pub decode: DecodeOptions,
}

impl Globals {
    /// How weights downloads go: a progress bar unless quiet, and the URL timeout.
    pub fn transfer(&self) -> Transfer {
        Transfer { progress: !self.quiet, timeout: self.decode.url_timeout, recheck: false }
    }
}

/// The progress bar drawn on stderr now, if any (see [`show_bar`]).
static SHOWN_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Makes `bar` (or, with `None`, no bar) the one that FFmpeg's log lines clear before they are
/// printed and that is drawn again after them; otherwise a line from `-v` lands after the bar's
/// text and the bar's next drawing goes on below it.
pub fn show_bar(bar: Option<&ProgressBar>) {
    if let Ok(mut shown) = SHOWN_BAR.lock() {
        *shown = bar.cloned();
    }
}

/// Prints one of FFmpeg's log lines with the shown bar out of the way.
fn print_beside_bar(line: &str) {
    let print = || {
        let _ = std::io::stderr().write_all(line.as_bytes());
    };
    match SHOWN_BAR.lock().ok().and_then(|shown| shown.clone()) {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    video::print_log_lines_with(print_beside_bar);
    video::init(match (cli.quiet, cli.verbose) {
        (true, _) | (false, 0) => FfmpegLog::Quiet,
        (false, 1) => FfmpegLog::Warnings,
        (false, 2) => FfmpegLog::Verbose,
        _ => FfmpegLog::Debug,
    });
    let threads = cli.threads.map(|threads| usable_threads(threads, cli.quiet)).transpose()?;
    if let Some(threads) = threads {
        limit_threads(threads)?;
    }
    let decode = DecodeOptions {
        threads: threads.map_or(0, |threads| threads.min(MAX_DECODER_THREADS)),
        url_timeout: Duration::from_secs_f64(cli.url_timeout),
    };
    let globals = Globals { quiet: cli.quiet, decode };
    match cli.command {
        Command::Predict(args) => predict::run(args, globals),
        Command::Inspect(args) => inspect::run(args, globals),
        Command::Models(args) => models::list(args),
        Command::Fetch(args) => models::fetch(args, globals),
        Command::Convert(args) => models::convert(args),
    }
}

/// Checks that `flag`'s file `path`, of `kind`, can be written once the work is done, and has the
/// `extension` the writer needs, if any (the image format is told by it). Errors start with `flag`
/// (or the subcommand), which names the file's role where a command writes more than one.
pub fn check_output(
    path: &std::path::Path,
    flag: &str,
    kind: vidclass::writable::OutputKind,
    extension: Option<&str>,
) -> anyhow::Result<()> {
    // First whether it can be written at all: a folder named `x.png` is no PNG file.
    vidclass::writable::check_writable(path, kind).map_err(|e| anyhow::anyhow!("{flag} {e}"))?;
    if let Some(extension) = extension {
        let matches = path.extension().is_some_and(|e| e.eq_ignore_ascii_case(extension));
        anyhow::ensure!(
            matches,
            "{flag} {}: only .{extension} files can be written",
            vidclass::error::one_line_path(path)
        );
    }
    Ok(())
}

/// Refuses to write safetensors under another file name (`convert a.pth b.pth`): a `.pth` that
/// holds safetensors misleads every tool that goes by the name. The name judged is the file's
/// that is written: a link's target (outputs are written through links), and so for
/// `/dev/stdout` the file stdout was sent to. A device or a pipe has no name to mislead and is
/// written to as it is; a folder is left to the writability check, which names it as one.
pub fn check_safetensors_name(path: &std::path::Path, flag: &str) -> anyhow::Result<()> {
    let written = std::fs::canonicalize(path).or_else(|_| std::fs::read_link(path)).unwrap_or(path.into());
    let named = |p: &std::path::Path| {
        p.file_name().is_some_and(|n| n.to_string_lossy().to_lowercase().ends_with(".safetensors"))
    };
    let no_name = std::fs::metadata(path).is_ok_and(|meta| !meta.is_file());
    let shown = vidclass::error::one_line_path(path);
    if named(&written) || no_name {
        Ok(())
    } else if named(path) {
        let target = vidclass::error::one_line_path(&written);
        anyhow::bail!("{flag} {shown}: a link to {target}; only .safetensors files can be written")
    } else {
        anyhow::bail!("{flag} {shown}: only .safetensors files can be written")
    }
}

/// `err` and its causes on one line, each said once. vidclass's errors already end with their
/// cause's message (`clip.mp4: No such file or directory`), which anyhow's `{:#}` would repeat.
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

/// FFmpeg's own cap when it chooses its decoder threads: more only add frames in flight.
const MAX_DECODER_THREADS: usize = 16;

/// `--threads N`, at most the cores this process may use: more threads than cores only share
/// them (a thousand made one video's decoding ten times slower), and each view a thread runs
/// holds its own activations.
fn usable_threads(threads: usize, quiet: bool) -> anyhow::Result<usize> {
    anyhow::ensure!(threads > 0, "--threads must be at least 1");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads > cores && !quiet {
        say(format_args!("warning: --threads {threads}: this machine has {cores} cores; using {cores}"));
    }
    Ok(threads.min(cores))
}

/// Caps the compute threads: candle's matrix products read `RAYON_NUM_THREADS`, its convolutions
/// use rayon's global pool.
fn limit_threads(threads: usize) -> anyhow::Result<()> {
    // SAFETY: called on the main thread before any thread that reads the environment exists
    // (the thread watching for Ctrl-C only waits for a signal).
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
    Ok(())
}
