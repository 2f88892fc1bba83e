//! The JSON formats: JSON Lines (one object per line) and a single JSON array.
//!
//! Both write each record as soon as it arrives so that a consumer sees progress on long batches;
//! the array form opens its bracket with the first record and closes it in `finish`, so the text
//! is one valid document once the run ends (and `[]` when nothing was written).

use std::io::{self, Write};

use super::record::Record;

/// Writes one record as a single line.
pub(super) fn write_line(out: &mut dyn Write, record: &Record) -> io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    writeln!(out)
}

/// Writes one element of the array, opening it before the first.
pub(super) fn write_element(out: &mut dyn Write, record: &Record, first: bool) -> io::Result<()> {
    out.write_all(if first { b"[\n" } else { b",\n" })?;
    serde_json::to_writer(&mut *out, record)?;
    Ok(())
}

/// Closes the array; `empty` when no element was written.
pub(super) fn finish_array(out: &mut dyn Write, empty: bool) -> io::Result<()> {
    out.write_all(if empty { b"[]\n" } else { b"\n]\n" })
}
