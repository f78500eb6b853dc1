//! A cache of built pipelines keyed by a stable content hash.
//!
//! Generic over the pipeline type and the builder so that hits, misses and
//! failure handling are tested without a GPU (the tests inject a counting fake
//! builder). The runtime instantiates it with [`GpuPipeline`](super::GpuPipeline).
//!
//! State per key, explicitly: absent → `Ready(pipeline)`. A failed build leaves
//! the key absent, so a later launch retries (the failure may have been an
//! out-of-memory that the pool has since relieved) and is counted as a miss.

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// A pipeline's identity: BLAKE3 of the WGSL source, entry point, override
/// constants and adapter fingerprint. Stable across runs and compiler versions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PipelineKey(pub [u8; 32]);

impl std::fmt::Debug for PipelineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Whether a launch found its pipeline ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already built: no compilation.
    Hit,
    /// Built for this launch.
    Miss,
}

/// Hit and miss counts of the pipeline cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineCacheStats {
    /// Lookups that found a ready pipeline.
    pub hits: u64,
    /// Lookups that had to build one.
    pub misses: u64,
    /// Pipelines currently held.
    pub entries: u64,
}

/// Built pipelines by key.
#[derive(Debug)]
pub struct PipelineCache<P> {
    ready: Mutex<FxHashMap<PipelineKey, Arc<P>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<P> Default for PipelineCache<P> {
    fn default() -> Self {
        PipelineCache {
            ready: Mutex::new(FxHashMap::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }
}

impl<P> PipelineCache<P> {
    /// The pipeline for `key`, built by `build` if absent.
    ///
    /// The lock is held while building, so concurrent launches of the same new
    /// kernel compile it once.
    ///
    /// # Errors
    /// Whatever `build` returns; nothing is cached then.
    pub fn get_or_build<E>(
        &self,
        key: PipelineKey,
        build: impl FnOnce() -> Result<P, E>,
    ) -> Result<(Arc<P>, CacheOutcome), E> {
        let mut ready = lock(&self.ready);
        if let Some(pipeline) = ready.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok((Arc::clone(pipeline), CacheOutcome::Hit));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let pipeline = Arc::new(build()?);
        ready.insert(key, Arc::clone(&pipeline));
        Ok((pipeline, CacheOutcome::Miss))
    }

    /// Current counts.
    pub fn stats(&self) -> PipelineCacheStats {
        PipelineCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: lock(&self.ready).len() as u64,
        }
    }

    /// Drops every pipeline (e.g. after device loss).
    pub fn clear(&self) {
        lock(&self.ready).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn key(n: u8) -> PipelineKey {
        PipelineKey([n; 32])
    }

    #[test]
    fn second_lookup_is_a_hit_and_does_not_build() {
        let cache = PipelineCache::default();
        let builds = Cell::new(0);
        let build = || -> Result<&str, ()> {
            builds.set(builds.get() + 1);
            Ok("pipeline")
        };
        assert_eq!(
            cache.get_or_build(key(1), build).unwrap().1,
            CacheOutcome::Miss
        );
        assert_eq!(
            cache.get_or_build(key(1), build).unwrap().1,
            CacheOutcome::Hit
        );
        assert_eq!(
            cache.get_or_build(key(2), build).unwrap().1,
            CacheOutcome::Miss
        );
        assert_eq!(builds.get(), 2);
        assert_eq!(
            cache.stats(),
            PipelineCacheStats {
                hits: 1,
                misses: 2,
                entries: 2
            }
        );
    }

    #[test]
    fn failed_build_is_not_cached_and_is_retried() {
        let cache: PipelineCache<u32> = PipelineCache::default();
        assert_eq!(
            cache.get_or_build(key(7), || Err("oom")).unwrap_err(),
            "oom"
        );
        let (value, outcome) = cache.get_or_build(key(7), || Ok::<_, &str>(5)).unwrap();
        assert_eq!((*value, outcome), (5, CacheOutcome::Miss));
        assert_eq!(cache.stats().entries, 1);
    }

    #[test]
    fn clear_forgets_everything() {
        let cache = PipelineCache::default();
        cache.get_or_build(key(3), || Ok::<_, ()>(1)).unwrap();
        cache.clear();
        assert_eq!(
            cache.get_or_build(key(3), || Ok::<_, ()>(1)).unwrap().1,
            CacheOutcome::Miss
        );
    }
}
