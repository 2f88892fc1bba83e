//! Presentation of per-input results, kept apart from the work that produces them.
//!
//! As in ripgrep's printer, the pipeline hands finished [`Record`]s to a [`Printer`] and knows
//! nothing about formats; each format lives in its own file. stdout carries results only, so every
//! record (failures included) goes through here, while progress and warnings go to stderr elsewhere.
//!
//! Every write is flushed per record, so `vidclass … --format jsonl | jq` sees each input as soon as
//! it is done, and every write returns its `io::Error`: when the reader of a pipe goes away
//! (`| head`), the caller sees `BrokenPipe` (see [`is_broken_pipe`]) and exits quietly with 0 instead
//! of panicking as `println!` would.
//!
//! No format uses colour or other escape codes, so output is the same on a terminal, in a file and
//! under `NO_COLOR`.

mod delimited;
mod json;
mod record;
mod table;
mod topk;

#[cfg(test)]
mod tests;

use std::io::{self, Write};

use delimited::Dialect;
pub use record::{Failure, Prediction, Record, TopEntry, base64};
pub use topk::top_k;

/// How results are printed (`--format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OutputFormat {
    /// Aligned rank, score and label rows under a header per input, for people.
    #[default]
    Table,
    /// One JSON array of all records, valid once the run ends.
    Json,
    /// One JSON object per line, flushed per input (JSON Lines), for pipelines.
    Jsonl,
    /// Comma-separated values with a header line, one row per input and rank.
    Csv,
    /// Tab-separated values with a header line, one row per input and rank.
    Tsv,
}

/// Writes records in one [`OutputFormat`] to a writer, one input at a time.
///
/// Call [`Printer::finish`] after the last record: the JSON array is closed there, and a CSV or
/// TSV run without any record still gets its header.
pub struct Printer<W: Write> {
    format: OutputFormat,
    out: W,
    written: usize,
}

impl<W: Write> Printer<W> {
    /// A printer of `format` that writes to `out` (typically a locked, buffered stdout).
    pub fn new(format: OutputFormat, out: W) -> Self {
        Printer { format, out, written: 0 }
    }

    /// Writes the record for one input and flushes it.
    pub fn write_result(&mut self, record: &Record) -> io::Result<()> {
        let first = self.written == 0;
        let dialect = self.dialect();
        let out: &mut dyn Write = &mut self.out;
        match self.format {
            OutputFormat::Table => table::write(out, record, first)?,
            OutputFormat::Json => json::write_element(out, record, first)?,
            OutputFormat::Jsonl => json::write_line(out, record)?,
            OutputFormat::Csv | OutputFormat::Tsv => {
                if first {
                    dialect.write_header(out)?;
                }
                dialect.write_record(out, record)?;
            }
        }
        self.written += 1;
        self.out.flush()
    }

    /// Whether a record has been written.
    pub fn started(&self) -> bool {
        self.written > 0
    }

    /// Completes the output, flushes it and gives the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        let empty = self.written == 0;
        match self.format {
            OutputFormat::Json => json::finish_array(&mut self.out, empty)?,
            OutputFormat::Csv | OutputFormat::Tsv if empty => self.dialect().write_header(&mut self.out)?,
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn dialect(&self) -> Dialect {
        if self.format == OutputFormat::Tsv { Dialect::Tsv } else { Dialect::Csv }
    }
}

/// Whether `err`, or any error in its `source()` chain, is an I/O error of kind `BrokenPipe`:
/// the reader of stdout has gone away, which a command-line tool treats as a quiet success.
///
/// Works on a bare `io::Error`, on [`crate::Error::Io`], and on an `anyhow::Error` through
/// `err.as_ref()`.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe) {
            return true;
        }
        next = e.source();
    }
    false
}
