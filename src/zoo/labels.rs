//! Class-name lists, embedded. A class id is the 0-based line number, in the file's order (never
//! re-sorted: mmaction2's Kinetics-400 map puts the capitalised "passing American football" pair
//! at 208/209 by Python string order).

use crate::{Error, Result};

/// mmaction2's `tools/data/kinetics/label_map_k400.txt` (400 lines; the same list, in the same
/// order, as torchvision's `_KINETICS400_CATEGORIES`, from which it was generated).
const KINETICS400: &str = include_str!("../../assets/kinetics400.txt");

/// The class names of label map `name` (e.g. `"kinetics400"`), by class id.
pub fn labels(name: &str) -> Result<Vec<String>> {
    match name {
        "kinetics400" => Ok(KINETICS400.lines().map(str::to_owned).collect()),
        other => Err(Error::Usage(format!(
            "labels: no label map `{other}` (known: kinetics400); give the class names with --labels FILE"
        ))),
    }
}
