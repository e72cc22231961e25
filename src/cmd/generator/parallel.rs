// SPDX-License-Identifier: LGPL-2.1-or-later
//! An order-keeping parallel map for the generator's per-unit work (loading, verifying, the
//! daemon-reload's cgroup queries).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// `items.iter().map(f).collect()`, spread over up to four threads taking blocks of items from a
/// shared counter (see [`map_chunks_ordered`]), the result in the input's order. Loading units is independent per unit and CPU-bound (parsing,
/// allocation); a generator runs on the boot path with a deadline, so it uses the cores it has.
/// Small inputs (a typical host: a few hundred units) stay on this thread.
pub fn map_ordered<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_chunks_ordered(items, BLOCK, |chunk| chunk.iter().map(&f).collect())
}

/// Set once a thread could not be started in this process: see [`spawn_or_not`].
static REFUSED: AtomicBool = AtomicBool::new(false);

/// How many threads [`map_chunks_ordered`] uses for `len` items: one (this one) once a thread
/// was refused.
fn threads_for(len: usize) -> usize {
    const MIN_PER_THREAD: usize = 256;
    if REFUSED.load(Ordering::Relaxed) {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(len / MIN_PER_THREAD)
        .max(1)
}

/// Drops `items` spread over as many threads as [`map_ordered`] uses, in contiguous chunks:
/// freeing thousands of loaded units (each assignment a few small allocations) takes
/// milliseconds on one thread. The chunks no longer match the blocks each thread loaded, so a
/// unit may be freed on another thread than the one that allocated it (glibc returns the
/// memory to its own arena, under that arena's lock).
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
            // A thread that cannot start drops its chunk here (see [`spawn_or_not`]).
            spawn_or_not(scope, move || drop(tail));
        }
        drop(items);
    });
}

/// Starts `f` on a scoped thread, or, where no thread can be started (a limit on tasks: the
/// pids controller, the kernel's `threads-max`, no memory for a stack), returns `None` having
/// dropped `f` unrun. `Scope::spawn`
/// panics then, and a generator that panics writes no drop-in: every bound unit would start
/// unbound. The callers' work needs no thread: the calling one does what none took.
///
/// A refusal is remembered for the rest of the process: the limit that refused one thread
/// refuses the next (the generator runs for milliseconds), so the later maps of a run neither
/// try again nor cut their work into blocks for threads that will not come.
pub fn spawn_or_not<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Option<std::thread::ScopedJoinHandle<'scope, T>> {
    unless_refused(|| std::thread::Builder::new().spawn_scoped(scope, f).ok())
}

/// [`spawn_or_not`] for a thread that outlives the caller's scope (named `name`): `None`, with
/// `f` dropped unrun, where none can be started.
pub fn spawn_named_or_not<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<std::thread::JoinHandle<T>> {
    unless_refused(|| std::thread::Builder::new().name(name.into()).spawn(f).ok())
}

/// `spawn()` unless a thread was refused before in this process; a refusal now is remembered.
fn unless_refused<H>(spawn: impl FnOnce() -> Option<H>) -> Option<H> {
    if REFUSED.load(Ordering::Relaxed) {
        return None;
    }
    let spawned = spawn();
    if spawned.is_none() {
        REFUSED.store(true, Ordering::Relaxed);
    }
    spawned
}

/// How many items a thread of [`map_ordered`] takes at a time.
const BLOCK: usize = 32;

/// [`map_ordered`] by chunks: `f` maps one contiguous chunk and returns one result per item, so
/// it can keep state from item to item (an open directory) without sharing it between threads.
///
/// The threads take blocks of `block` items from a shared counter until none is left, rather
/// than one fixed half each: the units of one part of the sorted names cost more than those of
/// another (dash-prefix drop-ins, fragments no template shares), and on a shared host one core
/// may be taken away for a while. With fixed halves the faster thread then waited for the other
/// (a quarter of the loading time on the benchmark's 5,000 units).
pub fn map_chunks_ordered<T: Sync, R: Send>(
    items: &[T],
    block: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = threads_for(items.len());
    if threads == 1 {
        return f(items);
    }
    let block = block.max(1);
    let blocks = (items.len() + block - 1) / block; // div_ceil needs Rust 1.73
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= blocks {
                return done;
            }
            done.push((b, f(&items[b * block..((b + 1) * block).min(items.len())])));
        }
    };
    let work = &work;
    let mut by_block: Vec<Option<Vec<R>>> = Vec::new();
    by_block.resize_with(blocks, || None);
    std::thread::scope(|scope| {
        // Threads that cannot start leave their blocks to the others, this one included.
        let handles: Vec<_> = (1..threads)
            .filter_map(|_| spawn_or_not(scope, work))
            .collect();
        let mut all = vec![work()];
        for h in handles {
            // A panic in a worker is a bug; re-raise it here rather than lose units.
            all.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        for (b, r) in all.into_iter().flatten() {
            by_block[b] = Some(r);
        }
    });
    let mut out = Vec::with_capacity(items.len());
    for r in by_block {
        // Every block was taken by exactly one thread.
        out.extend(r.expect("every block is mapped by one thread"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_dropped_once() {
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

    /// Blocks taken from the shared counter come back in the input's order, whole, each
    /// mapped once, at every length around the block and thread thresholds.
    #[test]
    fn blocks_taken_by_any_thread_come_back_in_order() {
        for n in [0, 1, 31, 32, 33, 511, 512, 513, 1000, 4097] {
            let items: Vec<usize> = (0..n).collect();
            let calls = AtomicUsize::new(0);
            let out = map_chunks_ordered(&items, BLOCK, |c| {
                calls.fetch_add(c.len(), Ordering::Relaxed);
                if threads_for(items.len()) > 1 {
                    assert!(
                        !c.is_empty() && c.len() <= BLOCK,
                        "{n}: a block of {}",
                        c.len()
                    );
                }
                c.iter().map(|x| x + 1).collect::<Vec<_>>()
            });
            assert_eq!(out, (1..=n).collect::<Vec<_>>(), "{n}");
            assert_eq!(
                calls.load(Ordering::Relaxed),
                n,
                "{n}: each item mapped once"
            );
        }
    }

    #[test]
    fn chunks_keep_the_order_and_their_own_state() {
        let items: Vec<usize> = (0..2000).collect();
        // Each chunk numbers its items from 0: state that never crosses threads.
        let out = map_chunks_ordered(&items, 100, |c| {
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
