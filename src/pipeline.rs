//! Batch classification: inputs in, one record per input out, in input order.
//!
//! A decoding thread prepares the next input while the network runs on the current one (a
//! channel without a buffer between them bounds memory to two inputs' views: the one in the
//! network and the next, prepared and waiting to be handed over), and prepares the first one
//! while the model loads, so a single video's decoding hides behind the load. Failures of one
//! input become its record and the batch goes on; a consumer that stops (a closed stdout) stops
//! the batch. A load that must first download the weights waits for the first input that decodes,
//! so that a batch whose every input fails (a mistyped name) downloads nothing.

use std::sync::mpsc;
use std::time::Instant;

use crate::classify::Classifier;
use crate::error::Error;
use crate::inputs::Job;
use crate::output::{Prediction, Record, top_k};
use crate::prepare::{PreparedInput, ViewProtocol, prepare};
use crate::video::{DecodeOptions, Video};

/// What to report for each input.
#[derive(Clone, Copy, Debug)]
pub struct ReportOptions {
    /// Best classes to list; 0 lists every class.
    pub top_k: usize,
    /// Classes scoring below this are left out.
    pub min_score: f32,
}

/// A prepared input, or why it could not be prepared, with the time it took.
struct Decoded {
    name: String,
    /// The name's bytes where `name` is lossy.
    name_bytes: Option<Vec<u8>>,
    prepared: Result<PreparedInput, Error>,
    decode_ms: u64,
}

/// How to build the classifier, and when.
pub enum Load<F> {
    /// At once, while the first input decodes (the weights are on disk).
    AtOnce(F),
    /// Once an input has decoded (the load starts with a download that a batch of failed inputs
    /// does not need). The failures before it are emitted as they come, so their records are out
    /// even when the load then fails: the user learns of every problem in one run.
    FirstGoodInput(F),
}

/// What the batch tells its caller besides the records.
pub trait Progress {
    /// A non-fatal problem with one input (frames lost to corrupt data).
    fn warning(&mut self, message: String);
    /// The network finished `views` more views of the current input.
    fn views_done(&mut self, views: usize);
    /// An input ended, classified or `failed` (a failed one may have reported none of its views).
    fn input_done(&mut self, failed: bool);
}

/// Classifies every job with the classifier `load` builds (on this thread, while the first
/// inputs are prepared with `protocol` on another), handing each record to `emit` as soon as it
/// is ready, in job order, and keeping `progress` informed. Stops early, returning the error,
/// when `jobs` ends with one (a list that cannot be read on), when `load` or `emit` fails, or
/// when the network's scores for an input are not finite numbers (see
/// [`Error::NonFiniteScores`]); the records emitted before such a stop stand.
pub fn run<E: From<Error>>(
    jobs: impl Iterator<Item = Result<Job, Error>> + Send + 'static,
    protocol: ViewProtocol,
    load: Load<impl FnOnce() -> Result<Classifier, E>>,
    decode: DecodeOptions,
    report: ReportOptions,
    progress: &mut impl Progress,
    mut emit: impl FnMut(Record) -> Result<(), E>,
) -> Result<(), E> {
    let (sender, receiver) = mpsc::sync_channel::<Result<Decoded, Error>>(0);
    // Not joined: a run that stops early (weights that fail to load, a closed stdout) must not
    // wait for a list still being written, whose next entry may never come. Returning drops the
    // receiver, which stops this thread after its current input or at the list's next entry; it
    // holds nothing to clean up (a spooled input is an unnamed temporary file).
    std::thread::spawn(move || {
        for job in jobs {
            let job = match job {
                Ok(job) => job,
                // The list cannot go on: the run stops there.
                Err(error) => {
                    let _ = sender.send(Err(error));
                    break;
                }
            };
            let (name, name_bytes) = (job.name(), job.name_bytes());
            let start = Instant::now();
            let prepared = match job {
                Job::Error { error, .. } => Err(error),
                Job::Input(input) => Video::open(input, decode).and_then(|video| prepare(&video, &protocol)),
            };
            let decoded =
                Decoded { name, name_bytes, prepared, decode_ms: start.elapsed().as_millis() as u64 };
            if sender.send(Ok(decoded)).is_err() {
                break; // the consumer stopped
            }
        }
    });
    let (mut classifier, mut build) = match load {
        Load::AtOnce(build) => (Some(build()?), None),
        Load::FirstGoodInput(build) => (None, Some(build)),
    };
    for decoded in receiver {
        let Decoded { name, name_bytes, prepared, decode_ms } = decoded?;
        let record = match prepared {
            Err(error) => Record::failure(&name, &error.detail()),
            Ok(prepared) => {
                if let Some(build) = build.take() {
                    classifier = Some(build()?);
                }
                let classifier = classifier.as_ref().expect("built before the first good input");
                match classify(classifier, &name, &prepared, decode_ms, report, progress) {
                    Ok(prediction) => Record::Prediction(prediction),
                    // The weights' fault, which every later input would meet too.
                    Err(Error::NonFiniteScores) => {
                        return Err(Error::video(&name, Error::NonFiniteScores).into());
                    }
                    Err(error) => Record::failure(&name, &error.detail()),
                }
            }
        }
        .with_input_bytes(name_bytes.as_deref());
        progress.input_done(matches!(record, Record::Failure(_)));
        emit(record)?;
    }
    Ok(())
}

/// The prediction for one prepared input.
fn classify(
    classifier: &Classifier,
    name: &str,
    prepared: &PreparedInput,
    decode_ms: u64,
    report: ReportOptions,
    progress: &mut impl Progress,
) -> Result<Prediction, Error> {
    let warnings = prepared.warnings();
    for warning in &warnings {
        progress.warning(format!("{}: {warning}", crate::error::one_line_name(name)));
    }
    let start = Instant::now();
    let result = classifier.classify_with_progress(prepared, |n| progress.views_done(n))?;
    Ok(Prediction {
        input: name.to_owned(),
        input_bytes: None,
        model: classifier.name().to_string(),
        top: top_k(&result.scores, classifier.labels(), report.top_k, report.min_score),
        views: prepared.views.len(),
        frames: prepared.distinct_frames(),
        decode_ms,
        infer_ms: start.elapsed().as_millis() as u64,
        warnings,
    })
}
