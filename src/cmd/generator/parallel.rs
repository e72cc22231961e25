// SPDX-License-Identifier: LGPL-2.1-or-later
//! An order-keeping parallel map for the generator's per-unit work (loading, verifying, the
//! daemon-reload's cgroup queries).

/// `items.iter().map(f).collect()`, spread over up to four threads in contiguous chunks, so the
/// result keeps the input's order. Loading units is independent per unit and CPU-bound (parsing,
/// allocation); a generator runs on the boot path with a deadline, so it uses the cores it has.
/// Small inputs (a typical host: a few hundred units) stay on this thread.
pub fn map_ordered<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_chunks_ordered(items, |chunk| chunk.iter().map(&f).collect())
}

/// How many threads [`map_chunks_ordered`] uses for `len` items.
fn threads_for(len: usize) -> usize {
    const MIN_PER_THREAD: usize = 256;
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(len / MIN_PER_THREAD)
        .max(1)
}

/// Drops `items` spread over threads in the chunks [`map_ordered`] would give them: freeing
/// thousands of loaded units (each assignment a few small allocations) takes milliseconds on
/// one thread, and a thread started after the loading thread ended takes over its malloc arena,
/// so each chunk's memory goes back to the arena it came from.
pub fn drop_spread<T: Send>(mut items: Vec<T>) {
    let threads = threads_for(items.len());
    if threads == 1 {
        return drop(items);
    }
    let chunk = (items.len() + threads - 1) / threads;
    std::thread::scope(|scope| {
        while items.len() > chunk {
            let at = (items.len() - 1) / chunk * chunk;
            let tail = items.split_off(at);
            scope.spawn(move || drop(tail));
        }
        drop(items);
    });
}

/// [`map_ordered`] by chunks: `f` maps one contiguous chunk (one thread's share) and returns one
/// result per item, so it can keep state from item to item (an open directory) without sharing
/// it between threads.
pub fn map_chunks_ordered<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads == 1 {
        return f(items);
    }
    let chunk = (items.len() + threads - 1) / threads; // div_ceil needs Rust 1.73
    let f = &f;
    std::thread::scope(|scope| {
        let mut rest = items.chunks(chunk);
        let first = rest.next().unwrap_or(&[]);
        let handles: Vec<_> = rest.map(|c| scope.spawn(move || f(c))).collect();
        let mut out: Vec<R> = f(first);
        for h in handles {
            // A panic in a worker is a bug; re-raise it here rather than lose units.
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_dropped_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let count = Arc::new(AtomicUsize::new(0));
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        for n in [0, 1, 255, 256, 1000, 1025] {
            count.store(0, Ordering::Relaxed);
            drop_spread((0..n).map(|_| Counted(count.clone())).collect());
            assert_eq!(count.load(Ordering::Relaxed), n);
        }
    }

    #[test]
    fn chunks_keep_the_order_and_their_own_state() {
        let items: Vec<usize> = (0..2000).collect();
        // Each chunk numbers its items from 0: state that never crosses threads.
        let out = map_chunks_ordered(&items, |c| {
            c.iter()
                .enumerate()
                .map(|(i, &x)| (x, i))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            out.iter().map(|&(x, _)| x).collect::<Vec<_>>(),
            items,
            "order kept"
        );
        assert_eq!(out[0].1, 0);
        assert_eq!(map_ordered(&items, |x| x * 2)[1999], 3998);
    }
}
