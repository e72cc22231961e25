// SPDX-License-Identifier: LGPL-2.1-or-later
//! An order-keeping parallel map for the generator's per-unit work (loading, verifying).

/// `items.iter().map(f).collect()`, spread over up to four threads in contiguous chunks, so the
/// result keeps the input's order. Loading units is independent per unit and CPU-bound (parsing,
/// allocation); a generator runs on the boot path with a deadline, so it uses the cores it has.
/// Small inputs (a typical host: a few hundred units) stay on this thread.
pub fn map_ordered<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 256;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = (items.len() + threads - 1) / threads; // div_ceil needs Rust 1.73
    let f = &f;
    std::thread::scope(|scope| {
        let mut rest = items.chunks(chunk);
        let first = rest.next().unwrap_or(&[]);
        let handles: Vec<_> = rest
            .map(|c| scope.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in handles {
            // A panic in a worker is a bug; re-raise it here rather than lose units.
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
}
