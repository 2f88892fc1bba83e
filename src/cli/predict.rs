//! `vidclass predict INPUT...`: classify videos and print the top classes of each.
//!
//! Everything that can stop the run (an unknown model, missing weights, contradictory arguments,
//! a checkpoint that does not fit) is found before the first record is written, and exits 2; the
//! checkpoint loads while the first video decodes. A checkpoint to download waits until a video
//! has decoded, so that a batch of mistyped names downloads nothing; the inputs that failed before
//! it keep their records even when the download then fails. A list on a pipe is read as the run
//! goes, so a problem with it (an entry that names stdin again) stops the run where it is met,
//! with exit 2, after the records before it. Every input yields exactly one record, a prediction
//! or an error, in input order; the exit status is 1 when any input failed.

use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use vidclass::device::DeviceChoice;
use vidclass::error::{one_line_name, one_line_path};
use vidclass::inputs::{self, Extensions, FilesFrom, Input, Job, JobCount, StdinList};
use vidclass::output::{OutputFormat, Printer, Record};
use vidclass::pipeline::{self, Load, Progress, ReportOptions};
use vidclass::{Classifier, Error};

use super::model_args::{ModelArgs, ViewArgs, WeightsDownload, cached_weights};
use super::{Globals, Status};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Videos: files, folders (scanned recursively, hidden files skipped), URLs FFmpeg opens, or
    /// `-` for video bytes on stdin.
    inputs: Vec<OsString>,

    /// Also read inputs from FILE, one per line (`-` reads the list from stdin). A list on a pipe
    /// is read as it is written, each result printed as soon as it is ready.
    #[arg(long, value_name = "FILE")]
    files_from: Option<PathBuf>,

    /// Entries of --files-from end with NUL instead of newline (as `find -print0` writes them).
    #[arg(short = '0', long = "null", requires = "files_from")]
    null: bool,

    /// Extensions a folder scan picks up, comma-separated, any case, replacing the default list:
    /// mp4, mkv, webm, avi, mov, m4v, mpg, mpeg, ts, mts, m2ts, vob, flv, wmv, 3gp, ogv, gif.
    #[arg(long, value_delimiter = ',', value_name = "EXT,...", value_parser = parse_extension)]
    ext: Vec<String>,

    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    views: ViewArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,

    /// How many classes to print per input; 0 prints every class.
    #[arg(short = 'k', long, default_value_t = 5, value_name = "K", allow_negative_numbers = true, value_parser = super::parse_count)]
    top_k: usize,

    /// Leave out classes scoring below this (scores are probabilities, 0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "SCORE", allow_hyphen_values = true, value_parser = parse_probability)]
    min_score: f32,

    /// Where the network runs: `cpu`, `cuda` (GPU 0) or `cuda:N`; `auto` takes GPU 0 when this
    /// build has CUDA (`--features cuda`) and one opens, else the CPU.
    #[arg(long, default_value_t = DeviceChoice::Auto, value_name = "DEVICE")]
    device: DeviceChoice,
}

/// A file extension, with or without its dot, spaces around it ignored (`--ext "mp4, mkv"`).
fn parse_extension(text: &str) -> Result<String, String> {
    let extension = text.trim().trim_start_matches('.');
    let plain = !extension.is_empty() && extension.chars().all(|c| c.is_alphanumeric() || "_-".contains(c));
    if plain { Ok(extension.to_owned()) } else { Err(format!("`{text}` is not a file extension")) }
}

/// A number from 0 to 1.
fn parse_probability(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{text}` is not a probability from 0 to 1")),
    }
}

pub fn run(args: PredictArgs, globals: Globals) -> anyhow::Result<Status> {
    if args.inputs.is_empty() && args.files_from.is_none() {
        bail!("no inputs: name videos, folders or URLs, `-` for stdin, or use --files-from");
    }
    let card = args.model.card()?;
    let protocol = args.views.protocol(&card)?;
    let labels = args.model.labels(&card)?;
    // The device and a given --weights file before the inputs, since a list read from a pipe may
    // take a while to end and a run that cannot start should say so at once; a download after
    // them, once an input has decoded, since a mistake in the inputs should not wait for one.
    let opened = args.device.open()?;
    if let Some(note) = opened.fallback_note.filter(|_| !globals.quiet) {
        super::say(format_args!("{note}"));
    }
    let device = opened.device;
    // Before the first input decodes, as the model loads, into up to 4 GiB of frames.
    vidclass::classify::check_views_fit_memory(&card, &protocol, &device).map_err(name_view_options)?;
    let given_weights = args.model.given_weights()?;
    let extensions = if args.ext.is_empty() { Extensions::default() } else { Extensions::new(&args.ext) };
    let files_from = args.files_from.map(|path| FilesFrom { path, null: args.null });
    let jobs = inputs::plan(&args.inputs, files_from.as_ref(), &extensions, StdinList::of_process())?;
    // A bar for more than one view; a URL or stdin may take long to read, and a list on a pipe may
    // grow, so even a single view then gets one that shows time passing. None for a list typed at
    // the terminal, where it would draw over the typing.
    let count = jobs.job_count();
    let streamed = !count.complete()
        || jobs.known_now().iter().any(|job| matches!(job, Job::Input(Input::Url(_) | Input::Stdin)));
    let typed = files_from.as_ref().is_some_and(FilesFrom::reads_stdin) && std::io::stdin().is_terminal();
    let drawn = !globals.quiet && !typed && (count.known() * protocol.num_views() >= 2 || streamed);
    let mut progress = ViewsBar::new(count, protocol.num_views(), drawn, globals.quiet);
    let bar = progress.bar.clone();
    // Loaded inside the pipeline, while the first input decodes. What stops a download (no cache
    // folder, no checkpoint named) stops the run now; the transfer itself waits for an input that
    // decodes (none is needed when every input fails) and shows its own bar instead.
    let given = given_weights.is_some();
    let weights = match given_weights.or_else(|| cached_weights(&card).filter(|path| path.is_file())) {
        Some(path) => Weights::OnDisk(path),
        None => Weights::Download(WeightsDownload::of(&card, &args.model.model)?),
    };
    let must_download = matches!(weights, Weights::Download(_));
    // A cached file that fails to load was damaged after its download was checked.
    let cached_hint = if given || must_download {
        String::new()
    } else {
        let model = shell_word(&args.model.model);
        format!("; `vidclass fetch {model}` checks the cached file and downloads it again")
    };
    let (labels_origin, labels_hint) = match &args.model.labels {
        Some(path) => (format!("--labels {}", one_line_path(path)), ""),
        None => {
            let given = args.model.card_as_given();
            (format!("model card {given}: label map {}", card.labels), "; --labels FILE names them")
        }
    };
    let build = || -> anyhow::Result<Classifier> {
        let weights = match weights {
            Weights::OnDisk(path) => path,
            Weights::Download(download) => bar
                .suspend(|| download.fetch(globals.transfer()))
                .with_context(|| format!("model card {}", args.model.card_as_given()))?,
        };
        let classifier = Classifier::new(&card, &weights, labels, protocol, device).map_err(|e| match e {
            Error::LabelCount { names, classes } => Error::Usage(format!(
                "{labels_origin}: {names} names, but the checkpoint scores {classes} classes{labels_hint}"
            )),
            Error::Checkpoint { path, cause } => {
                Error::Checkpoint { path, cause: format!("{cause}{cached_hint}") }
            }
            e => name_view_options(e),
        })?;
        Ok(classifier)
    };
    let load = if must_download { Load::FirstGoodInput(build) } else { Load::AtOnce(build) };

    let mut printer = Printer::new(args.format, std::io::stdout().lock());
    let (mut failed, mut write_failed) = (0usize, false);
    let report = ReportOptions { top_k: args.top_k, min_score: args.min_score };
    let decode = globals.decode;
    // A failure is said on stderr too, for logs and for a person watching a run whose results go
    // elsewhere; only a table shown in the terminal that stderr would show it on says it already.
    let table_on_screen = args.format == OutputFormat::Table
        && std::io::stdout().is_terminal()
        && std::io::stderr().is_terminal();
    let outcome = pipeline::run(jobs, protocol, load, decode, report, &mut progress, |record| {
        if let Record::Failure(failure) = &record {
            failed += 1;
            if !globals.quiet && !table_on_screen {
                let input = one_line_name(&failure.input);
                bar.suspend(|| super::say(format_args!("{input}: {}", failure.error)));
            }
        }
        let written = bar.suspend(|| printer.write_result(&record)).context(super::CANNOT_WRITE);
        write_failed |= written.is_err();
        written
    });
    bar.finish_and_clear();
    super::show_bar(None);
    if let Err(error) = outcome {
        // The records written stay one document (a JSON array closed) when the weights stop the
        // run partway; an output that failed is left alone.
        if printer.started() && !write_failed {
            let _ = printer.finish();
        }
        return Err(error);
    }
    printer.finish().and_then(|mut out| out.flush()).context(super::CANNOT_WRITE)?;
    Ok(if failed > 0 { Status::SomeFailed } else { Status::Success })
}

/// A progress bar on stderr counting views (a 30-view video takes a while on a CPU) and inputs.
/// indicatif hides it when stderr is not a terminal.
struct ViewsBar {
    bar: ProgressBar,
    quiet: bool,
    inputs: JobCount,
    /// Inputs ended, and how many of them failed, shared with the bar's style, which draws the
    /// counts at every tick.
    ended: Arc<EndedInputs>,
    /// Whether the bar's style shows a total (not while a list is still being read); `None`
    /// before it has a style.
    shows_total: Option<bool>,
    views_per_input: usize,
    /// Views the network ran for the input now in it.
    views_of_current: usize,
    /// Views of failed inputs that the network never ran: they leave the total, so that the bar
    /// counts only work done and still ends full.
    views_skipped: usize,
}

/// Inputs ended so far, for the bar's count.
#[derive(Default)]
struct EndedInputs {
    done: AtomicUsize,
    failed: AtomicUsize,
}

impl ViewsBar {
    /// A bar for the `inputs` counted so far, of `views_per_input` views each, `drawn` or hidden;
    /// warnings are printed unless `quiet`. Its clock ticks on its own, so that a long download or
    /// decode does not look hung.
    fn new(inputs: JobCount, views_per_input: usize, drawn: bool, quiet: bool) -> ViewsBar {
        let bar = ProgressBar::hidden();
        let mut views_bar = ViewsBar {
            bar,
            quiet,
            inputs,
            ended: Arc::default(),
            shows_total: None,
            views_per_input,
            views_of_current: 0,
            views_skipped: 0,
        };
        // Drawn only once it has its style.
        views_bar.show_total_once_known();
        if drawn {
            views_bar.bar.set_draw_target(ProgressDrawTarget::stderr());
            views_bar.bar.enable_steady_tick(Duration::from_millis(500));
            super::show_bar(Some(&views_bar.bar));
        }
        views_bar
    }

    /// While a list is still being read, the bar has no total (nor an estimate of the time left)
    /// and its count of inputs says that more may come (`3/5+ inputs`); it gets them once the list
    /// has ended.
    fn show_total_once_known(&mut self) {
        let complete = self.inputs.complete();
        if complete {
            self.bar.set_length((self.inputs.known() * self.views_per_input - self.views_skipped) as u64);
        }
        if self.shows_total == Some(complete) {
            return;
        }
        self.shows_total = Some(complete);
        let template = if complete {
            "{wide_bar} {inputs} · {pos}/{len} views · {elapsed_precise} eta {eta}"
        } else {
            "{spinner} {inputs} · {views} · {elapsed_precise}"
        };
        let (inputs, ended) = (self.inputs.clone(), self.ended.clone());
        let count_inputs = move |_: &ProgressState, out: &mut dyn fmt::Write| {
            let (done, failed) = (ended.done.load(Ordering::Relaxed), ended.failed.load(Ordering::Relaxed));
            let _ = out.write_str(&inputs_count(done, failed, inputs.known(), inputs.complete()));
        };
        let count_views = |state: &ProgressState, out: &mut dyn fmt::Write| {
            let views = state.pos();
            let _ = write!(out, "{views} view{}", if views == 1 { "" } else { "s" });
        };
        let style = ProgressStyle::with_template(template).expect("valid template");
        self.bar.set_style(style.with_key("inputs", count_inputs).with_key("views", count_views));
    }
}

/// The bar's count of inputs: `done` of the `known` ones ended, `failed` of them failed, with a
/// `+` while the list is not `complete`.
fn inputs_count(done: usize, failed: usize, known: usize, complete: bool) -> String {
    let more = if complete { "" } else { "+" };
    let failed = if failed > 0 { format!(" ({failed} failed)") } else { String::new() };
    format!("{done}/{known}{more} inputs{failed}")
}

impl Progress for ViewsBar {
    fn warning(&mut self, message: String) {
        if !self.quiet {
            self.bar.suspend(|| super::say(format_args!("warning: {message}")));
        }
    }

    fn views_done(&mut self, views: usize) {
        self.views_of_current += views;
        self.bar.inc(views as u64);
        self.show_total_once_known();
    }

    fn input_done(&mut self, failed: bool) {
        self.ended.done.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.ended.failed.fetch_add(1, Ordering::Relaxed);
        }
        // Every input has the same views; those a failed input did not run leave the total.
        self.views_skipped += self.views_per_input.saturating_sub(self.views_of_current);
        self.views_of_current = 0;
        self.show_total_once_known();
    }
}

/// A view shape that cannot run, with the options that set it.
fn name_view_options(error: Error) -> Error {
    match error {
        Error::ViewShape { .. } => {
            Error::Usage(format!("{error} (--clip-len, --crop-size, or the card's views)"))
        }
        e => e,
    }
}

/// The checkpoint to load: a file (`--weights`, or the card's in the cache), or the card's
/// download.
enum Weights<'a> {
    OnDisk(PathBuf),
    Download(WeightsDownload<'a>),
}

/// `word` as a shell reads it back: as it is when it holds only characters no shell treats
/// specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain =
        !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./+:=,@%".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", one_line_name(&word.replace('\'', "'\\''"))) }
}

#[cfg(test)]
mod tests {
    use vidclass::inputs::{self, Extensions, StdinList};
    use vidclass::pipeline::Progress;

    use super::{ViewsBar, inputs_count, shell_word};

    /// A hidden bar for `inputs` named inputs (missing files, which still count) of 3 views each.
    fn bar_for(inputs: usize) -> ViewsBar {
        let names: Vec<String> = (0..inputs).map(|i| format!("missing-{i}.mp4")).collect();
        let stdin = StdinList { reader: std::io::empty(), regular_file: true };
        let jobs = inputs::plan(&names, None, &Extensions::default(), stdin).unwrap();
        ViewsBar::new(jobs.job_count(), 3, false, true)
    }

    #[test]
    fn the_bar_counts_the_views_run_and_ends_full_when_inputs_fail() {
        let mut bar = bar_for(4);
        assert_eq!(bar.bar.length(), Some(12));
        bar.views_done(3);
        bar.input_done(false);
        // Fails before its views.
        bar.input_done(true);
        // Fails after one of its views ran.
        bar.views_done(1);
        bar.input_done(true);
        assert_eq!((bar.bar.position(), bar.bar.length()), (4, Some(7)));
        bar.views_done(3);
        bar.input_done(false);
        assert_eq!((bar.bar.position(), bar.bar.length()), (7, Some(7)));
    }

    #[test]
    fn the_count_of_inputs_names_the_failed_ones_and_a_list_still_read() {
        assert_eq!(inputs_count(2, 0, 5, true), "2/5 inputs");
        assert_eq!(inputs_count(4, 3, 5, true), "4/5 inputs (3 failed)");
        assert_eq!(inputs_count(1, 1, 2, false), "1/2+ inputs (1 failed)");
    }

    #[test]
    fn a_word_is_quoted_only_where_a_shell_needs_it() {
        assert_eq!(shell_word("slowfast-r50-4x16-k400"), "slowfast-r50-4x16-k400");
        assert_eq!(shell_word("cards/my_card.toml"), "cards/my_card.toml");
        assert_eq!(shell_word("my card.toml"), "'my card.toml'");
        assert_eq!(shell_word("it's.toml"), r"'it'\''s.toml'");
        assert_eq!(shell_word(""), "''");
    }
}
