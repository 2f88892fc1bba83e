//! The human-readable default: a header line per input, then aligned rank, score and label rows.
//!
//! Inputs are separated by a blank line, like ripgrep's heading mode, so a long batch stays easy to
//! scan. Scores are rounded to four decimals here only; the machine formats keep full precision.

use std::io::{self, Write};

use super::record::{Prediction, Record};
use crate::error::one_line_name;

/// Writes one record; `first` tells whether a separating blank line is needed before it.
pub(super) fn write(out: &mut dyn Write, record: &Record, first: bool) -> io::Result<()> {
    if !first {
        writeln!(out)?;
    }
    match record {
        Record::Prediction(p) => write_prediction(out, p),
        Record::Failure(f) => {
            writeln!(out, "{}\n  error: {}", one_line_name(&f.input), one_line_name(&f.error))
        }
    }
}

fn write_prediction(out: &mut dyn Write, p: &Prediction) -> io::Result<()> {
    let plural = |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
    writeln!(
        out,
        "{} ({}; {}, {}; decode {} ms, infer {} ms)",
        one_line_name(&p.input),
        one_line_name(&p.model),
        plural(p.views, "view"),
        plural(p.frames, "frame"),
        p.decode_ms,
        p.infer_ms
    )?;
    if p.top.is_empty() {
        return writeln!(out, "  (no class reached the minimum score)");
    }
    let scores: Vec<String> = p.top.iter().map(|e| format!("{:.4}", e.score)).collect();
    let score_width = scores.iter().map(String::len).max().unwrap_or(0);
    let rank_width = p.top.len().to_string().len();
    for (rank, (entry, score)) in p.top.iter().zip(&scores).enumerate() {
        writeln!(out, "  {:>rank_width$}  {score:>score_width$}  {}", rank + 1, one_line_name(&entry.label))?;
    }
    Ok(())
}
