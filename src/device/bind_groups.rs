//! Bind groups reused by launches that bind the same buffers.
//!
//! Creating a bind group, and dropping it once its submission is done, was
//! about half of what recording one GPU launch cost: wgpu validates and
//! tracks each one. A launch that binds the same wgpu buffers, at the same
//! sizes, through the same layout as an earlier launch reuses that launch's
//! bind group instead. wgpu buffers and layouts compare by identity and the
//! pool hands the same buffers out again, so repeated launches and the two
//! halves of a ping-pong pair hit.
//!
//! The cache is [`BoundedCache`], generic so that its rules are tested
//! without a GPU. In front of it, [`RecentBindSets`] remembers the last few
//! launches' whole sets of bind groups by what they bound (pipeline, device
//! buffers and sizes, uniform bytes), compared in place: a launch that
//! repeats one of them builds no key and takes no uniform lookup at all.
//!
//! Invariants:
//! - A cached bind group keeps its buffers alive. The device therefore empties
//!   the cache whenever its buffer pool frees a buffer (an eviction over the
//!   idle limit, or a trim after out-of-memory), so no buffer the pool counts
//!   as freed lives on here. Buffers on loan or idle in the pool are alive
//!   anyway.
//! - It holds at most [`BIND_GROUP_CACHE_ENTRIES`] bind groups; a full cache
//!   empties before the next insertion.
//! - The recent sets hold buffers alive too, and are emptied with the cache.
//!   A set is only remembered whole, for the exact uniform bytes it bound:
//!   uniform buffers are never rewritten, so equal bytes mean equal values.

use std::hash::Hash;

use rustc_hash::FxHashMap;

/// Bind-group reuse so far; see [`Runtime::bind_group_stats`](crate::Runtime::bind_group_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindGroupCacheStats {
    /// Launches that reused a bind group.
    pub hits: u64,
    /// Bind groups created.
    pub misses: u64,
    /// Bind groups held now.
    pub entries: u64,
}

/// How many bind groups a device keeps for reuse.
pub(crate) const BIND_GROUP_CACHE_ENTRIES: usize = 1024;

/// One buffer binding of a bind group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BoundBuffer {
    pub binding: u32,
    pub buffer: wgpu::Buffer,
    /// Where the bound range starts.
    pub offset: u64,
    /// The bound range's length.
    pub bytes: u64,
}

/// What makes two bind groups interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct BindGroupKey {
    pub layout: wgpu::BindGroupLayout,
    pub entries: Vec<BoundBuffer>,
}

/// A map that empties itself when full, or when told to.
#[derive(Debug)]
pub(crate) struct BoundedCache<K, V> {
    capacity: usize,
    entries: FxHashMap<K, V>,
    hits: u64,
    misses: u64,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        BoundedCache {
            capacity: capacity.max(1),
            entries: FxHashMap::default(),
            hits: 0,
            misses: 0,
        }
    }

    /// The value cached for `key`, or the one `make` builds (and the cache
    /// keeps).
    ///
    /// # Errors
    /// Whatever `make` returns; nothing is cached then.
    pub fn get_or_try_insert<E>(
        &mut self,
        key: K,
        make: impl FnOnce(&K) -> Result<V, E>,
    ) -> Result<V, E> {
        if let Some(value) = self.entries.get(&key) {
            self.hits += 1;
            return Ok(value.clone());
        }
        self.misses += 1;
        let value = make(&key)?;
        if self.entries.len() >= self.capacity {
            self.entries.clear();
        }
        self.entries.insert(key, value.clone());
        Ok(value)
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn stats(&self) -> BindGroupCacheStats {
        BindGroupCacheStats {
            hits: self.hits,
            misses: self.misses,
            entries: self.entries.len() as u64,
        }
    }
}

/// How many launches' bind-group sets [`RecentBindSets`] remembers: enough
/// for a ping-pong pair of two kernels.
pub(crate) const RECENT_BIND_SETS: usize = 8;

/// The bind groups of the last few launches, found by comparing a launch's
/// pipeline (`P`), buffers (`B`, with bound sizes) and uniform bytes in
/// place, without building a key.
#[derive(Debug)]
pub(crate) struct RecentBindSets<P, B, V> {
    sets: Vec<RecentBindSet<P, B, V>>,
    /// Where the next set goes once full: the oldest.
    next: usize,
    hits: u64,
}

#[derive(Debug)]
struct RecentBindSet<P, B, V> {
    pipeline: P,
    buffers: Vec<(B, u64)>,
    uniforms: Vec<Vec<u8>>,
    value: V,
}

impl<P: PartialEq, B: PartialEq + Clone, V: Clone> RecentBindSets<P, B, V> {
    pub fn new() -> Self {
        RecentBindSets {
            sets: Vec::with_capacity(RECENT_BIND_SETS),
            next: 0,
            hits: 0,
        }
    }

    /// The value remembered for a launch of `pipeline` binding `buffers`
    /// (buffer `i` at `bytes(i)` bytes) and `uniforms`.
    pub fn find(
        &mut self,
        pipeline: &P,
        buffers: &[B],
        bytes: impl Fn(usize) -> u64,
        uniforms: &[Vec<u8>],
    ) -> Option<V> {
        let found = self.sets.iter().find(|set| {
            set.pipeline == *pipeline
                && set.buffers.len() == buffers.len()
                && set.buffers.iter().zip(buffers).enumerate().all(
                    |(index, ((kept, kept_bytes), buffer))| {
                        kept == buffer && *kept_bytes == bytes(index)
                    },
                )
                && set.uniforms == uniforms
        })?;
        self.hits += 1;
        Some(found.value.clone())
    }

    /// Remembers `value` for the launch described as in [`find`](Self::find),
    /// in place of the oldest set once full.
    pub fn remember(
        &mut self,
        pipeline: P,
        buffers: &[B],
        bytes: impl Fn(usize) -> u64,
        uniforms: &[Vec<u8>],
        value: V,
    ) {
        let set = RecentBindSet {
            pipeline,
            buffers: buffers
                .iter()
                .enumerate()
                .map(|(index, buffer)| (buffer.clone(), bytes(index)))
                .collect(),
            uniforms: uniforms.to_vec(),
            value,
        };
        if self.sets.len() < RECENT_BIND_SETS {
            self.sets.push(set);
        } else {
            self.sets[self.next] = set;
            self.next = (self.next + 1) % RECENT_BIND_SETS;
        }
    }

    /// Drops every set.
    pub fn clear(&mut self) {
        self.sets.clear();
        self.next = 0;
    }

    /// Launches that found their set here.
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sets = RecentBindSets<u32, &'static str, u64>;

    fn find(sets: &mut Sets, pipeline: u32, buffers: &[&'static str], uniform: u8) -> Option<u64> {
        sets.find(
            &pipeline,
            buffers,
            |index| 4 * index as u64 + 4,
            &[vec![uniform]],
        )
    }

    fn remember(sets: &mut Sets, pipeline: u32, buffers: &[&'static str], uniform: u8, value: u64) {
        sets.remember(
            pipeline,
            buffers,
            |index| 4 * index as u64 + 4,
            &[vec![uniform]],
            value,
        );
    }

    #[test]
    fn a_recent_set_is_found_only_for_the_same_pipeline_buffers_sizes_and_uniforms() {
        let mut sets = Sets::new();
        remember(&mut sets, 1, &["x", "y"], 7, 10);
        assert_eq!(find(&mut sets, 1, &["x", "y"], 7), Some(10));
        assert_eq!(find(&mut sets, 2, &["x", "y"], 7), None, "another pipeline");
        assert_eq!(find(&mut sets, 1, &["y", "x"], 7), None, "swapped buffers");
        assert_eq!(find(&mut sets, 1, &["x"], 7), None, "fewer buffers");
        assert_eq!(
            find(&mut sets, 1, &["x", "y"], 8),
            None,
            "other uniform bytes"
        );
        let other_sizes = sets.find(&1, &["x", "y"], |_| 4, &[vec![7]]);
        assert_eq!(other_sizes, None, "other bound sizes");
        assert_eq!(sets.hits(), 1);
    }

    #[test]
    fn recent_sets_keep_the_newest_and_empty_on_clear() {
        let mut sets = Sets::new();
        for value in 0..RECENT_BIND_SETS as u64 + 2 {
            remember(&mut sets, value as u32, &["x"], 0, value);
        }
        assert_eq!(find(&mut sets, 0, &["x"], 0), None, "the oldest made room");
        assert_eq!(find(&mut sets, 1, &["x"], 0), None);
        let newest = RECENT_BIND_SETS as u32 + 1;
        assert_eq!(find(&mut sets, newest, &["x"], 0), Some(u64::from(newest)));
        assert_eq!(find(&mut sets, 2, &["x"], 0), Some(2));
        sets.clear();
        assert_eq!(
            find(&mut sets, 2, &["x"], 0),
            None,
            "a cleared set was found"
        );
    }

    fn built(cache: &mut BoundedCache<u32, String>, key: u32) -> bool {
        let mut made = false;
        let value = cache
            .get_or_try_insert(key, |k| {
                made = true;
                Ok::<_, ()>(format!("value {k}"))
            })
            .unwrap();
        assert_eq!(value, format!("value {key}"));
        made
    }

    #[test]
    fn the_same_key_under_the_same_epoch_is_built_once() {
        let mut cache = BoundedCache::new(8);
        assert!(built(&mut cache, 1));
        assert!(!built(&mut cache, 1));
        assert!(built(&mut cache, 2));
        assert!(!built(&mut cache, 1));
        assert_eq!(
            cache.stats(),
            BindGroupCacheStats {
                hits: 2,
                misses: 2,
                entries: 2
            }
        );
    }

    #[test]
    fn clearing_drops_every_entry_so_nothing_freed_is_kept_alive() {
        let mut cache = BoundedCache::new(8);
        built(&mut cache, 1);
        built(&mut cache, 2);
        cache.clear();
        assert_eq!(cache.stats().entries, 0);
        assert!(built(&mut cache, 1), "a cleared entry was reused");
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let mut cache = BoundedCache::new(3);
        for key in 0..10 {
            built(&mut cache, key);
            assert!(cache.stats().entries <= 3);
        }
        assert!(!built(&mut cache, 9), "the newest entry survives a clear");
    }

    #[test]
    fn a_failed_build_caches_nothing() {
        let mut cache: BoundedCache<u32, String> = BoundedCache::new(4);
        let err = cache.get_or_try_insert(5, |_| Err("no")).unwrap_err();
        assert_eq!(err, "no");
        assert_eq!(cache.stats().entries, 0);
        assert!(built(&mut cache, 5));
    }
}
