//! CSV and TSV: one row per (input, rank), for spreadsheets, `awk`, `cut` and dataframe readers.
//!
//! Every row repeats the per-input columns so that each row stands alone after sorting or
//! filtering. An input with no rows to show (a failure, or nothing above `--min-score`) still gets
//! one row with the rank columns empty, so no input silently disappears from the table.
//!
//! CSV quotes a field that contains a comma, quote or line break and doubles its quotes (RFC 4180,
//! with `\n` line ends). TSV cannot quote, so it escapes backslash, tab, newline and carriage return
//! as `\\`, `\t`, `\n`, `\r` (the "linear TSV" convention that PostgreSQL's text format also uses).

use std::borrow::Cow;
use std::io::{self, Write};

use super::record::Record;

/// Which delimited dialect to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    Csv,
    Tsv,
}

const COLUMNS: [&str; 11] = [
    "input",
    "rank",
    "label",
    "index",
    "score",
    "model",
    "views",
    "frames",
    "decode_ms",
    "infer_ms",
    "error",
];

impl Dialect {
    fn separator(self) -> &'static str {
        match self {
            Dialect::Csv => ",",
            Dialect::Tsv => "\t",
        }
    }

    fn escape(self, field: &str) -> Cow<'_, str> {
        match self {
            Dialect::Csv if field.contains([',', '"', '\n', '\r']) => {
                Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
            }
            Dialect::Tsv if field.contains(['\\', '\t', '\n', '\r']) => Cow::Owned(
                field.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n").replace('\r', "\\r"),
            ),
            _ => Cow::Borrowed(field),
        }
    }

    fn write_row(self, out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
        let escaped: Vec<Cow<str>> = fields.iter().map(|f| self.escape(f)).collect();
        writeln!(out, "{}", escaped.join(self.separator()))
    }

    /// Writes the header line.
    pub(super) fn write_header(self, out: &mut dyn Write) -> io::Result<()> {
        let header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        self.write_row(out, &header)
    }

    /// Writes the rows of one record.
    pub(super) fn write_record(self, out: &mut dyn Write, record: &Record) -> io::Result<()> {
        let empty = String::new;
        match record {
            Record::Failure(f) => {
                let mut row = vec![empty(); COLUMNS.len()];
                row[0] = f.input.clone();
                row[10] = f.error.clone();
                self.write_row(out, &row)
            }
            Record::Prediction(p) => {
                let common = |rank: String, label: String, index: String, score: String| {
                    vec![
                        p.input.clone(),
                        rank,
                        label,
                        index,
                        score,
                        p.model.clone(),
                        p.views.to_string(),
                        p.frames.to_string(),
                        p.decode_ms.to_string(),
                        p.infer_ms.to_string(),
                        empty(),
                    ]
                };
                if p.top.is_empty() {
                    return self.write_row(out, &common(empty(), empty(), empty(), empty()));
                }
                for (rank, e) in p.top.iter().enumerate() {
                    let row = common(
                        (rank + 1).to_string(),
                        e.label.clone(),
                        e.index.to_string(),
                        e.score.to_string(),
                    );
                    self.write_row(out, &row)?;
                }
                Ok(())
            }
        }
    }
}
