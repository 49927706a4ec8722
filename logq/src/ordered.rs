//! Work on every core, results in order: the items a producer makes are cut
//! into batches, every batch goes to every worker thread, each worker does
//! its share of it (the items it owns, by a key the work chooses), and the
//! sink gets each batch's outputs, one per worker, in the order the batches
//! were made.
//!
//! logq prints many matches this way: reading a hit back (its columns, its
//! archive block decompressed, its line parsed) and formatting it cost
//! about ten times what finding and sorting it does. Hits are shared out by
//! archive block, not by position, so that no block is decompressed by two
//! workers (consecutive hits in time order mostly share their blocks: a
//! split by position made two workers' CPU time 1.5 times one's). Memory
//! is bounded: at most [`DEPTH`] batches are in flight (queued, in work, or
//! done and waiting for the sink), whatever the number of items.

use std::sync::{mpsc, Arc};

use anyhow::{anyhow, Result};

/// Batches in flight, at most: one in work and one queued keeps the
/// workers busy while the sink writes.
pub const DEPTH: usize = 2;

/// One worker's queue of batches and of its outputs.
struct Lane<T, O> {
    batches: mpsc::Sender<Arc<Vec<T>>>,
    outputs: mpsc::Receiver<Result<O>>,
}

/// Which worker of how many: what a share of a batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub worker: usize,
    pub workers: usize,
}

impl Share {
    /// Whether an item with `key` is this worker's (keys spread evenly).
    pub fn owns(&self, key: u64) -> bool {
        let spread = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        spread % self.workers as u64 == self.worker as u64
    }
}

/// Runs `produce`, which hands each item to the function it is given;
/// every `batch` items (and the rest at the end) go to all of `workers`
/// threads, each with its own state made by `state` (in the calling
/// thread) and its [`Share`]; `sink` gets a batch's outputs (by worker)
/// batch after batch, in order. When fewer than `batch` items come, no
/// thread is started: the calling thread works the one batch as the only
/// share. The first error (of the producer, a worker or the sink) ends
/// everything and is returned.
pub fn run<T, O, S>(
    workers: usize,
    batch: usize,
    produce: impl FnOnce(&mut dyn FnMut(T) -> Result<()>) -> Result<()>,
    state: impl Fn() -> S,
    work: impl Fn(&mut S, Share, &[T]) -> Result<O> + Sync,
    mut sink: impl FnMut(Vec<O>) -> Result<()>,
) -> Result<()>
where
    T: Send + Sync,
    O: Send,
    S: Send,
{
    let (workers, batch) = (workers.max(1), batch.max(1));
    std::thread::scope(|scope| {
        let work = &work;
        let mut lanes: Vec<Lane<T, O>> = Vec::new();
        let mut pending = 0usize;
        let mut current: Vec<T> = Vec::with_capacity(batch);

        let receive = |lanes: &[Lane<T, O>]| -> Result<Vec<O>> {
            lanes
                .iter()
                .map(|lane| {
                    lane.outputs
                        .recv()
                        .map_err(|_| anyhow!("a worker thread stopped"))?
                })
                .collect()
        };
        let hand_out = |lanes: &mut Vec<Lane<T, O>>,
                        pending: &mut usize,
                        items: Vec<T>,
                        sink: &mut dyn FnMut(Vec<O>) -> Result<()>|
         -> Result<()> {
            if lanes.is_empty() {
                for worker in 0..workers {
                    let (batch_tx, batch_rx) = mpsc::channel::<Arc<Vec<T>>>();
                    let (out_tx, out_rx) = mpsc::channel::<Result<O>>();
                    let mut s = state();
                    let share = Share { worker, workers };
                    scope.spawn(move || {
                        for items in batch_rx {
                            let out = work(&mut s, share, &items);
                            let failed = out.is_err();
                            if out_tx.send(out).is_err() || failed {
                                break;
                            }
                        }
                    });
                    lanes.push(Lane {
                        batches: batch_tx,
                        outputs: out_rx,
                    });
                }
            }
            if *pending >= DEPTH {
                *pending -= 1;
                sink(receive(lanes)?)?;
            }
            let items = Arc::new(items);
            for lane in lanes.iter() {
                if lane.batches.send(items.clone()).is_err() {
                    // A worker stops after a failed batch: its error, among
                    // the outputs pending, is the one to report.
                    for _ in 0..*pending {
                        receive(lanes)?;
                    }
                    return Err(anyhow!("a worker thread stopped"));
                }
            }
            *pending += 1;
            Ok(())
        };

        produce(&mut |item| {
            current.push(item);
            if current.len() >= batch {
                let items = std::mem::replace(&mut current, Vec::with_capacity(batch));
                hand_out(&mut lanes, &mut pending, items, &mut sink)?;
            }
            Ok(())
        })?;
        if lanes.is_empty() {
            // Fewer items than a batch: threads would cost more than they
            // save.
            if !current.is_empty() {
                let only = Share {
                    worker: 0,
                    workers: 1,
                };
                sink(vec![work(&mut state(), only, &current)?])?;
            }
            return Ok(());
        }
        if !current.is_empty() {
            hand_out(&mut lanes, &mut pending, current, &mut sink)?;
        }
        for _ in 0..pending {
            sink(receive(&lanes)?)?;
        }
        // Dropping the lanes ends the workers; the scope joins them.
        Ok(())
    })
}

/// Worker threads for this machine: one per core.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Squares `0..n` in batches on `workers` threads, each worker taking
    /// the items it owns, the shares taking uneven times; returns what the
    /// sink saw, merged back by position as logq merges lines.
    fn squares(n: u64, workers: usize, batch: usize) -> Vec<u64> {
        let mut seen = Vec::new();
        run(
            workers,
            batch,
            |push| (0..n).try_for_each(push),
            || 0u64,
            |calls: &mut u64, share: Share, items: &[u64]| {
                *calls += 1;
                // Uneven work: later shares often finish first.
                if (items[0] + share.worker as u64) % 3 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(items
                    .iter()
                    .filter(|&&i| share.owns(i / 4))
                    .map(|&i| (i, i * i))
                    .collect::<Vec<_>>())
            },
            |outs: Vec<Vec<(u64, u64)>>| {
                let mut all: Vec<(u64, u64)> = outs.into_iter().flatten().collect();
                all.sort_unstable();
                seen.extend(all.into_iter().map(|(_, sq)| sq));
                Ok(())
            },
        )
        .unwrap();
        seen
    }

    #[test]
    fn every_item_is_done_once_and_batches_come_in_order() {
        // logq's printed lines must keep time order however the hits are
        // spread over threads, and each must be printed exactly once.
        let want: Vec<u64> = (0..1000u64).map(|i| i * i).collect();
        for workers in [1, 2, 3, 8] {
            for batch in [1, 7, 100, 999, 1000, 5000] {
                assert_eq!(
                    squares(1000, workers, batch),
                    want,
                    "{workers} workers, batch {batch}"
                );
            }
        }
        assert!(squares(0, 2, 10).is_empty());
    }

    #[test]
    fn an_error_in_a_batch_ends_the_run_with_it() {
        // A line that cannot be read back must make logq fail with that
        // error, not hang or print the lines after it.
        let mut sunk = 0;
        let err = run(
            2,
            10,
            |push| (0..1000u32).try_for_each(push),
            || (),
            |_: &mut (), share: Share, items: &[u32]| {
                if share.worker == 1 && items.contains(&455) {
                    anyhow::bail!("line 455 is gone");
                }
                Ok(items.len())
            },
            |outs| {
                sunk += outs[0];
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "line 455 is gone");
        assert!(sunk <= 450, "{sunk} items sunk past the failed batch");
    }

    #[test]
    fn a_failing_sink_stops_the_producer() {
        // A closed pipe (the sink fails) must stop logq walking hits.
        let mut produced = 0;
        let err = run(
            2,
            10,
            |push| {
                for i in 0..100_000u32 {
                    produced += 1;
                    push(i)?;
                }
                Ok(())
            },
            || (),
            |_: &mut (), _: Share, items: &[u32]| Ok(items.len()),
            |_| anyhow::bail!("broken pipe"),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "broken pipe");
        assert!(
            produced < 1000,
            "{produced} items produced after the sink failed"
        );
    }

    #[test]
    fn shares_split_keys_evenly() {
        // An uneven split would leave a core idle while the other prints.
        for workers in [2, 3] {
            let mut per = vec![0; workers];
            for key in 0..30_000u64 {
                let owners: Vec<usize> = (0..workers)
                    .filter(|&worker| Share { worker, workers }.owns(key))
                    .collect();
                assert_eq!(owners.len(), 1, "key {key}");
                per[owners[0]] += 1;
            }
            for n in per {
                assert!(n > 30_000 / workers * 9 / 10, "{n} of 30,000 keys");
            }
        }
    }
}
