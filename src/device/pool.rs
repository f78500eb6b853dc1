//! Device buffers on loan from the runtime's size-class pool.
//!
//! A [`PooledBuffer`] goes back to the pool when dropped; the pool keeps at
//! most its idle limit and frees the rest. When it frees a buffer, the bind
//! groups that may hold it are dropped too (see `bind_groups`), or they would
//! keep the memory alive. On out-of-memory the pool frees its idle buffers
//! and the allocation is tried once more; [`GpuContext::simulate_out_of_memory`]
//! makes allocations fail on purpose, for failover tests.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::GpuContext;
use crate::error::{Error, Result};
use crate::memory::PoolStats;
use crate::sync::lock;

/// What a pooled allocation is used for; part of the pool key because usages
/// cannot be mixed on one wgpu buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PoolKind {
    /// Kernel arguments: STORAGE | COPY_SRC | COPY_DST.
    Storage,
    /// Readback staging: MAP_READ | COPY_DST.
    Readback,
}

impl PoolKind {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            PoolKind::Storage => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            PoolKind::Readback => U::MAP_READ | U::COPY_DST,
        }
    }

    fn label(self) -> &'static str {
        match self {
            PoolKind::Storage => "switchyard storage",
            PoolKind::Readback => "switchyard readback",
        }
    }
}

/// A wgpu buffer on loan from the pool; goes back to it when dropped.
#[derive(Debug)]
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    kind: PoolKind,
    class: u64,
    home: Weak<GpuContext>,
}

impl PooledBuffer {
    pub fn buffer(&self) -> &wgpu::Buffer {
        // Present from construction until drop.
        self.buffer
            .as_ref()
            .expect("pooled buffer taken before drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let (Some(buffer), Some(home)) = (self.buffer.take(), self.home.upgrade()) else {
            return;
        };
        if home.health.is_lost() {
            lock(&home.pool).forget(self.class);
        } else {
            home.release_to_pool(self.kind, self.class, buffer);
        }
    }
}

impl GpuContext {
    /// Makes the next `allocations` buffer allocations fail as out-of-memory.
    pub fn simulate_out_of_memory(&self, allocations: u64) {
        self.allocations_to_fail
            .store(allocations, Ordering::Release);
    }

    /// Whether this allocation is one [`simulate_out_of_memory`](Self::simulate_out_of_memory) asked to fail.
    fn take_simulated_failure(&self) -> bool {
        self.allocations_to_fail
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// A buffer of at least `bytes` from the pool. On out-of-memory the pool
    /// frees its idle buffers and the allocation is tried once more.
    pub fn acquire(self: &Arc<Self>, kind: PoolKind, bytes: u64) -> Result<PooledBuffer> {
        self.check_healthy()?;
        let allocate = |class: u64| {
            if self.take_simulated_failure() {
                return Err(Error::GpuOutOfMemory {
                    operation: "buffer allocation (simulated)".into(),
                    bytes: class,
                });
            }
            self.scoped("buffer allocation", class, || {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(kind.label()),
                    size: class,
                    usage: kind.usage(),
                    mapped_at_creation: false,
                })
            })
        };
        let first = lock(&self.pool).acquire(kind, bytes, allocate);
        let (buffer, class) = match first {
            Err(Error::GpuOutOfMemory { .. }) => {
                let freed = lock(&self.pool).trim();
                self.forget_bind_groups();
                log::warn!(
                    "switchyard: GPU out of memory; freed {freed} idle pool bytes and retrying"
                );
                lock(&self.pool).acquire(kind, bytes, allocate)?
            }
            other => other?,
        };
        Ok(PooledBuffer {
            buffer: Some(buffer),
            kind,
            class,
            home: Arc::downgrade(self),
        })
    }

    /// Gives `buffer` back to the pool. When the pool frees it (or another
    /// buffer) instead of keeping it, the bind groups that may hold it go too;
    /// see `bind_groups`.
    fn release_to_pool(&self, kind: PoolKind, class: u64, buffer: wgpu::Buffer) {
        let evicted = {
            let mut pool = lock(&self.pool);
            let before = pool.stats().evictions;
            pool.release(kind, class, buffer);
            pool.stats().evictions != before
        };
        if evicted {
            self.forget_bind_groups();
        }
    }

    /// Drops the cached bind groups, and with them their hold on buffers.
    pub(super) fn forget_bind_groups(&self) {
        lock(&self.bind_groups).clear();
        lock(&self.recent_bind_sets).clear();
    }

    /// The buffer pool's counters and footprint.
    pub fn pool_stats(&self) -> PoolStats {
        lock(&self.pool).stats()
    }
}
