//! Running the views of one batch side by side, each group on its own share of the threads.
//!
//! Splitting every layer over all threads works well for the large early layers, but the late ones
//! (7×7 frames, a few hundred rows) leave threads waiting on each other, and the narrow
//! fast-pathway products do not split well at all. Views are independent, so a batch of several
//! views runs faster as one group per thread: each group's layers then run single-threaded, with
//! no synchronisation, and every layer keeps its thread busy. Measured on 2 threads (SlowFast R50,
//! 256², 4 views, interleaved runs): 1.68–1.88 s side by side against 1.93–2.02 s with every layer
//! split. Two views side by side share the memory bandwidth, so each runs about 15 % slower than
//! alone on one thread (0.73–0.80 s).
//!
//! Only CPU batches of two or more views are split; a single view keeps every thread.
//!
//! A long protocol (30 views) goes through [`queue`] rather than batch after batch: each lane takes
//! the next view as soon as it finishes one, so no lane waits at the end of every batch for a
//! slower one (on a shared machine one vCPU may run a view several per cent slower than the other).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use candle_core::Tensor;

use crate::{Error, Result};

/// A rayon pool of `threads` threads for one lane.
fn lane_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::from(candle_core::Error::Msg(format!("thread pool: {e}"))))
}

/// Runs `f(i)` for every `i` in `0..count` on one lane per rayon thread (fewer if `count` is
/// smaller), each lane in a pool of its share of the threads taking the next `i` when it is done,
/// and calls `done` on this thread with each result as it comes. Returns the results in index
/// order, or the first error (the lanes then start no new work).
pub(crate) fn queue<T: Send>(
    count: usize,
    f: impl Fn(usize) -> Result<T> + Sync,
    mut done: impl FnMut(&T),
) -> Result<Vec<T>> {
    let threads = rayon::current_num_threads();
    let lanes = count.min(threads);
    if lanes < 2 {
        return (0..count).map(|i| f(i).inspect(&mut done)).collect();
    }
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut first_error = None;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel();
        for _ in 0..lanes {
            let (f, next, failed, sender) = (&f, &next, &failed, sender.clone());
            scope.spawn(move || {
                let pool = match lane_pool(threads / lanes) {
                    Ok(pool) => pool,
                    Err(e) => {
                        let _ = sender.send((0, Err(e)));
                        return;
                    }
                };
                pool.install(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count || failed.load(Ordering::Relaxed) {
                            break;
                        }
                        let result = f(i);
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        if sender.send((i, result)).is_err() {
                            break;
                        }
                    }
                })
            });
        }
        drop(sender);
        for (i, result) in receiver {
            match result {
                Ok(value) => {
                    done(&value);
                    results[i] = Some(value);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(results.into_iter().map(|r| r.expect("every index ran")).collect()),
    }
}

/// Views per group when `views` views are shared out over `threads` threads: contiguous ranges,
/// as equal as possible, at most one per thread.
fn groups(views: usize, threads: usize) -> Vec<Range<usize>> {
    let lanes = views.min(threads).max(1);
    (0..lanes).map(|i| views * i / lanes..views * (i + 1) / lanes).collect()
}

/// Runs `f` on `x` (views along dim 0), or, on the CPU with several views and threads, on groups
/// of views side by side, each in a pool of its share of rayon's threads. Results come back in
/// view order, one per group.
pub(crate) fn in_lanes<T: Send>(x: &Tensor, f: impl Fn(&Tensor) -> Result<T> + Sync) -> Result<Vec<T>> {
    let threads = rayon::current_num_threads();
    let groups = groups(x.dim(0)?, threads);
    if groups.len() < 2 || !x.device().is_cpu() {
        return Ok(vec![f(x)?]);
    }
    let per_lane = threads / groups.len();
    std::thread::scope(|scope| {
        let lanes: Vec<_> = groups
            .iter()
            .map(|views| {
                let (f, views) = (&f, views.clone());
                scope.spawn(move || -> Result<T> {
                    let pool = lane_pool(per_lane)?;
                    let part = x.narrow(0, views.start, views.len())?;
                    pool.install(|| f(&part))
                })
            })
            .collect();
        lanes.into_iter().map(|lane| lane.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::{groups, in_lanes, queue};
    use crate::Error;

    /// Runs `queue` over `count` indices on a pool of `threads`, recording which thread ran each
    /// index and the order in which `done` saw them.
    fn run_queue(count: usize, threads: usize) -> (Vec<(usize, usize)>, Vec<usize>) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut seen = Vec::new();
        let results = pool.install(|| {
            queue(count, |i| Ok((i, rayon::current_num_threads())), |&(i, _)| seen.push(i)).unwrap()
        });
        (results, seen)
    }

    #[test]
    fn queue_runs_every_index_once_and_returns_them_in_order() {
        for (count, threads) in [(7, 2), (2, 2), (5, 3), (3, 1), (1, 4), (0, 2)] {
            let (results, mut seen) = run_queue(count, threads);
            let indices: Vec<usize> = results.iter().map(|r| r.0).collect();
            assert_eq!(indices, (0..count).collect::<Vec<_>>(), "{count} on {threads}");
            seen.sort();
            assert_eq!(seen, indices, "done sees each result once");
            // Each lane has its share of the threads; one lane keeps them all.
            let lanes = count.min(threads);
            let per_lane = if lanes < 2 { threads } else { threads / lanes };
            assert!(results.iter().all(|r| r.1 == per_lane), "{count} on {threads}: {results:?}");
        }
    }

    #[test]
    fn queue_stops_at_an_error_and_returns_it() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let started = std::sync::atomic::AtomicUsize::new(0);
        let result = pool.install(|| {
            queue(
                100,
                |i| {
                    started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i == 3 {
                        return Err(Error::Usage(format!("view {i}")));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    Ok(i)
                },
                |_| {},
            )
        });
        assert!(matches!(result, Err(Error::Usage(m)) if m == "view 3"));
        // The lanes stop taking indices once one has failed (the other lane would need 0.2 s
        // to run them all meanwhile).
        assert!(started.into_inner() < 100);
    }

    #[test]
    fn each_lane_gets_its_views_in_order_on_its_own_thread() {
        let x = Tensor::arange(0f32, 6.0, &Device::Cpu).unwrap().reshape((3, 2)).unwrap();
        let run = |x: &Tensor, threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                in_lanes(x, |part| Ok((part.to_vec2::<f32>()?, rayon::current_num_threads()))).unwrap()
            })
        };
        let rows = |r: &[[f32; 2]]| r.iter().map(|r| r.to_vec()).collect::<Vec<_>>();
        assert_eq!(run(&x, 2), vec![(rows(&[[0., 1.]]), 1), (rows(&[[2., 3.], [4., 5.]]), 1)]);
        assert_eq!(run(&x, 4), vec![(rows(&[[0., 1.]]), 1), (rows(&[[2., 3.]]), 1), (rows(&[[4., 5.]]), 1)]);
        // Spare threads are shared out: two views on four threads get two each.
        let two = x.narrow(0, 0, 2).unwrap();
        assert_eq!(run(&two, 4), vec![(rows(&[[0., 1.]]), 2), (rows(&[[2., 3.]]), 2)]);
        // One thread: no lanes, the whole batch at once.
        assert_eq!(run(&x, 1), vec![(rows(&[[0., 1.], [2., 3.], [4., 5.]]), 1)]);
    }

    #[test]
    fn groups_cover_every_view_once_in_order() {
        assert_eq!(groups(1, 2), vec![0..1]);
        assert_eq!(groups(2, 2), vec![0..1, 1..2]);
        assert_eq!(groups(3, 2), vec![0..1, 1..3]);
        assert_eq!(groups(2, 16), vec![0..1, 1..2]);
        assert_eq!(groups(8, 3), vec![0..2, 2..5, 5..8]);
        assert_eq!(groups(0, 2), vec![0..0]);
    }
}
