//! CPU-bound work over many items (deflating and hashing a build output's files), spread over
//! the machine's cores with scoped threads. The results come back in the items' order, so
//! what is built from them (a zip, a digest) is the same whatever the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

/// How many threads the packaging uses: the cores this process may run on.
pub fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// `work` applied to every item on up to `threads` threads, the results in the items' order.
/// Items are taken largest `cost` first, so one big file does not start last and leave the
/// other threads idle. On the first error the threads stop taking items; of the items that
/// failed, the first in the items' order gives the error returned.
pub fn map<T, R, W, C>(items: &[T], threads: usize, cost: C, work: W) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> Result<R> + Sync,
    C: Fn(&T) -> u64,
{
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&index| std::cmp::Reverse(cost(&items[index])));
    let threads = threads.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let result = work(&items[index]);
            let failed = result.is_err();
            done.push((index, result));
            if failed {
                next.store(order.len(), Ordering::Relaxed);
            }
        }
        done
    };
    let batches: Vec<Vec<(usize, Result<R>)>> = if threads == 1 {
        vec![take()]
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads).map(|_| scope.spawn(take)).collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        })
    };
    let mut slots: Vec<Option<Result<R>>> = (0..items.len()).map(|_| None).collect();
    for (index, result) in batches.into_iter().flatten() {
        slots[index] = Some(result);
    }
    if let Some(err) = slots.iter_mut().find_map(|slot| slot.take_if(|r| r.is_err())) {
        return Err(err.err().expect("an error"));
    }
    Ok(slots.into_iter().map(|slot| slot.and_then(Result::ok).expect("every item was done")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_items_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..500).collect();
        for threads in [1, 2, 7, 64] {
            let out = map(&items, threads, |n| n % 13, |n| Ok(n * 2)).unwrap();
            assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>(), "{threads} threads");
        }
        assert!(map(&[] as &[u64], 4, |_| 0, |n| Ok(*n)).unwrap().is_empty());
    }

    #[test]
    fn the_first_failing_item_in_order_is_the_error() {
        let items: Vec<u64> = (0..200).collect();
        for threads in [1, 3] {
            let err =
                map(&items, threads, |_| 0, |n| if *n >= 10 { anyhow::bail!("item {n}") } else { Ok(*n) }).unwrap_err();
            // Every item below the first failure is done before the threads stop, but a later
            // one may fail first on another thread: the reported one is the lowest of those.
            let failed: u64 = err.to_string().trim_start_matches("item ").parse().unwrap();
            assert!(failed >= 10, "{err}");
        }
        let err = map(&items, 1, |_| 0, |n| if *n == 42 { anyhow::bail!("item {n}") } else { Ok(*n) }).unwrap_err();
        assert_eq!(err.to_string(), "item 42");
    }
}
