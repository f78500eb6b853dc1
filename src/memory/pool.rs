//! A size-class pool of allocations, bounded in the bytes it keeps idle.
//!
//! Device and staging buffers are expensive to create (a driver call and, on
//! Vulkan, a memory-allocator round trip) and simulation loops ask for the
//! same sizes over and over. The pool rounds each request up to a size class,
//! hands back an idle allocation of that class when it has one, and takes
//! allocations back when their owner drops them.
//!
//! The pool is generic over the allocation type so that its policy is tested
//! without a GPU; the runtime instantiates it with `wgpu::Buffer`.
//!
//! Invariants:
//! - `idle_bytes <= idle_limit_bytes` after every call: an allocation released
//!   into a full pool is dropped (freed) instead of kept.
//! - `live_bytes` counts every allocation handed out and not yet released, by
//!   its class size, so the footprint reported is what the driver holds.

use std::collections::HashMap;
use std::hash::Hash;

/// Smallest class: tiny uniform blocks and scalars share one class.
const MIN_CLASS_BYTES: u64 = 256;
/// Up to this size classes are powers of two; above it, four classes per
/// doubling keep the rounding waste under 25 % for large buffers.
const POWER_OF_TWO_LIMIT: u64 = 1 << 20;

/// The size class a request of `bytes` is rounded up to.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(MIN_CLASS_BYTES);
    let pow2 = bytes.next_power_of_two();
    if pow2 <= POWER_OF_TWO_LIMIT {
        return pow2;
    }
    let quarter = pow2 / 8; // steps of 1/8 of the next power = 1/4 of the previous
    bytes.div_ceil(quarter) * quarter
}

/// Counters and footprint of a pool, as reported by
/// [`Runtime::memory_report`](crate::Runtime::memory_report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes handed out and not yet returned.
    pub live_bytes: u64,
    /// Bytes kept idle for reuse.
    pub idle_bytes: u64,
    /// The most bytes the pool keeps idle.
    pub idle_limit_bytes: u64,
    /// The largest `live_bytes + idle_bytes` seen.
    pub peak_bytes: u64,
    /// Requests served from an idle allocation.
    pub hits: u64,
    /// Requests that created a new allocation.
    pub misses: u64,
    /// Released allocations dropped because the idle limit was reached, or
    /// freed by the pool when it trims its idle buffers.
    pub evictions: u64,
}

/// A pool of allocations of type `A`, keyed by a usage kind `K` and size class.
#[derive(Debug)]
pub struct SizeClassPool<K, A> {
    idle: HashMap<(K, u64), Vec<A>>,
    stats: PoolStats,
}

impl<K: Copy + Eq + Hash, A> SizeClassPool<K, A> {
    /// An empty pool that keeps at most `idle_limit_bytes` idle.
    pub fn new(idle_limit_bytes: u64) -> Self {
        SizeClassPool {
            idle: HashMap::new(),
            stats: PoolStats {
                idle_limit_bytes,
                ..PoolStats::default()
            },
        }
    }

    /// An allocation of at least `bytes` for `kind`, reused when one is idle,
    /// else made by `allocate(class_bytes)`. Returns it with its class size,
    /// which must be passed back to [`release`](Self::release).
    ///
    /// # Errors
    /// Whatever `allocate` returns; the pool is unchanged then.
    pub fn acquire<E>(
        &mut self,
        kind: K,
        bytes: u64,
        allocate: impl FnOnce(u64) -> Result<A, E>,
    ) -> Result<(A, u64), E> {
        let class = size_class(bytes);
        if let Some(allocation) = self.idle.get_mut(&(kind, class)).and_then(Vec::pop) {
            self.stats.idle_bytes -= class;
            self.stats.live_bytes += class;
            self.stats.hits += 1;
            return Ok((allocation, class));
        }
        let allocation = allocate(class)?;
        self.stats.misses += 1;
        self.stats.live_bytes += class;
        self.stats.peak_bytes = self
            .stats
            .peak_bytes
            .max(self.stats.live_bytes + self.stats.idle_bytes);
        Ok((allocation, class))
    }

    /// Takes back an allocation of class `class` for reuse, or drops it when
    /// keeping it would exceed the idle limit.
    pub fn release(&mut self, kind: K, class: u64, allocation: A) {
        self.stats.live_bytes = self.stats.live_bytes.saturating_sub(class);
        if self.stats.idle_bytes + class > self.stats.idle_limit_bytes {
            self.stats.evictions += 1;
            drop(allocation);
            return;
        }
        self.stats.idle_bytes += class;
        self.idle.entry((kind, class)).or_default().push(allocation);
    }

    /// Forgets an allocation that was handed out but will never come back
    /// (its device was lost), so `live_bytes` stays truthful.
    pub fn forget(&mut self, class: u64) {
        self.stats.live_bytes = self.stats.live_bytes.saturating_sub(class);
    }

    /// Frees every idle allocation, e.g. to retry after an out-of-memory error.
    /// Returns the bytes freed.
    pub fn trim(&mut self) -> u64 {
        let freed = self.stats.idle_bytes;
        let count: usize = self.idle.values().map(Vec::len).sum();
        self.idle.clear();
        self.stats.idle_bytes = 0;
        self.stats.evictions += count as u64;
        freed
    }

    /// The pool's counters and footprint.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct FakeAllocation(u64);

    fn fake(class: u64) -> Result<FakeAllocation, ()> {
        Ok(FakeAllocation(class))
    }

    #[test]
    fn size_classes_round_up_with_bounded_waste() {
        assert_eq!(size_class(0), 256);
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(1 << 20), 1 << 20);
        for bytes in [(1 << 20) + 1, 3_000_000, 100_000_007, 1 << 30] {
            let class = size_class(bytes);
            assert!(class >= bytes);
            assert!(
                (class - bytes) * 4 <= bytes,
                "{bytes} -> {class} wastes more than 25 %"
            );
            assert_eq!(size_class(class), class, "a class maps to itself");
        }
    }

    #[test]
    fn released_allocation_is_reused_for_the_same_kind_and_class() {
        let mut pool = SizeClassPool::new(1 << 20);
        let (a, class) = pool.acquire("storage", 1000, fake).unwrap();
        assert_eq!(class, 1024);
        pool.release("storage", class, a);
        let (_, class_again) = pool.acquire("storage", 900, fake).unwrap();
        assert_eq!(class_again, 1024);
        let (_, _) = pool.acquire("staging", 900, fake).unwrap();
        let stats = pool.stats();
        assert_eq!((stats.hits, stats.misses), (1, 2));
        assert_eq!(stats.live_bytes, 2048);
        assert_eq!(stats.idle_bytes, 0);
    }

    #[test]
    fn idle_bytes_never_exceed_the_limit() {
        let mut pool = SizeClassPool::new(4096);
        let taken: Vec<_> = (0..10)
            .map(|_| pool.acquire(0u8, 1024, fake).unwrap())
            .collect();
        assert_eq!(pool.stats().live_bytes, 10 * 1024);
        for (allocation, class) in taken {
            pool.release(0u8, class, allocation);
            assert!(pool.stats().idle_bytes <= 4096);
        }
        let stats = pool.stats();
        assert_eq!(stats.idle_bytes, 4096);
        assert_eq!(stats.evictions, 6);
        assert_eq!(stats.live_bytes, 0);
        assert_eq!(stats.peak_bytes, 10 * 1024);
    }

    #[test]
    fn failed_allocation_leaves_the_pool_unchanged() {
        let mut pool: SizeClassPool<u8, FakeAllocation> = SizeClassPool::new(4096);
        let result = pool.acquire(0, 100, |_| Err("out of memory"));
        assert_eq!(result.unwrap_err(), "out of memory");
        assert_eq!(
            pool.stats(),
            SizeClassPool::<u8, FakeAllocation>::new(4096).stats()
        );
    }

    #[test]
    fn trim_frees_every_idle_allocation() {
        let mut pool = SizeClassPool::new(1 << 20);
        let (a, ca) = pool.acquire(0u8, 300, fake).unwrap();
        let (b, cb) = pool.acquire(0u8, 5000, fake).unwrap();
        pool.release(0, ca, a);
        pool.release(0, cb, b);
        assert_eq!(pool.trim(), 512 + 8192);
        assert_eq!(pool.stats().idle_bytes, 0);
        let (_, _) = pool.acquire(0u8, 300, fake).unwrap();
        assert_eq!(pool.stats().misses, 3);
    }
}
