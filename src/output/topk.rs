//! Picking the classes to show from a score vector: `-k` and `--min-score`.
//!
//! Ties are broken by the lower class index so that output is the same on every run and machine,
//! whatever order an unstable sort or a parallel reduction would leave equal scores in.

use super::record::TopEntry;

/// The best `k` classes of `scores` (all of them when `k` is 0) whose score is at least
/// `min_score`, highest first; equal scores are ordered by lower index. NaN scores never qualify.
///
/// # Panics
/// If `labels` and `scores` differ in length: the model card loader checks that the label map
/// fits the network, so a mismatch here is a bug, not a user error.
pub fn top_k<S: AsRef<str>>(scores: &[f32], labels: &[S], k: usize, min_score: f32) -> Vec<TopEntry> {
    assert_eq!(scores.len(), labels.len(), "one label per class score");
    let mut ranked: Vec<(usize, f32)> =
        scores.iter().copied().enumerate().filter(|&(_, score)| score >= min_score).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if k > 0 {
        ranked.truncate(k);
    }
    ranked
        .into_iter()
        .map(|(index, score)| TopEntry { label: labels[index].as_ref().to_owned(), index, score })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("class {i}")).collect()
    }

    fn indices(top: &[TopEntry]) -> Vec<usize> {
        top.iter().map(|e| e.index).collect()
    }

    #[test]
    fn picks_highest_first_and_carries_labels() {
        let top = top_k(&[0.1, 0.6, 0.05, 0.25], &labels(4), 2, 0.0);
        assert_eq!(
            top,
            vec![
                TopEntry { label: "class 1".into(), index: 1, score: 0.6 },
                TopEntry { label: "class 3".into(), index: 3, score: 0.25 },
            ]
        );
    }

    #[test]
    fn k_zero_returns_every_class_sorted() {
        let top = top_k(&[0.1, 0.6, 0.05, 0.25], &labels(4), 0, 0.0);
        assert_eq!(indices(&top), vec![1, 3, 0, 2]);
    }

    #[test]
    fn k_larger_than_class_count_returns_all() {
        assert_eq!(top_k(&[0.5, 0.5], &labels(2), 10, 0.0).len(), 2);
    }

    #[test]
    fn ties_go_to_the_lower_index() {
        let top = top_k(&[0.2, 0.3, 0.2, 0.3, 0.0], &labels(5), 0, 0.0);
        assert_eq!(indices(&top), vec![1, 3, 0, 2, 4]);
    }

    #[test]
    fn min_score_is_inclusive_and_applies_before_k() {
        let scores = [0.1, 0.6, 0.05, 0.25];
        assert_eq!(indices(&top_k(&scores, &labels(4), 0, 0.25)), vec![1, 3]);
        assert_eq!(indices(&top_k(&scores, &labels(4), 5, 0.1)), vec![1, 3, 0]);
        assert!(top_k(&scores, &labels(4), 5, 0.9).is_empty());
    }

    #[test]
    fn nan_scores_are_dropped() {
        let top = top_k(&[f32::NAN, 0.4, f32::NAN], &labels(3), 0, f32::NEG_INFINITY);
        assert_eq!(indices(&top), vec![1]);
    }

    #[test]
    #[should_panic(expected = "one label per class score")]
    fn label_count_must_match() {
        top_k(&[0.5, 0.5], &labels(1), 1, 0.0);
    }
}
