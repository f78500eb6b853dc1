//! What a buffer needs from the runtime that made it.
//!
//! A [`RuntimeHandle`] is the small, shared part of a runtime that outlives
//! the `Runtime` value itself for as long as any of its buffers do: the GPU
//! context (or none), the pool that copies large host ranges, the transfer
//! counters, buffer ids, and device-loss recovery. It sits below the buffer
//! layer, so buffers never reach up into the launch path or the runtime;
//! the runtime above holds it beside what only launches need (dispatcher,
//! pipeline cache, CPU pool for kernels).
//!
//! Invariant: a buffer belongs to the runtime whose handle it holds; launches
//! compare handles (`Arc::ptr_eq`) to refuse buffers of another runtime.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::device::{GpuContext, TransferCounters};
use crate::recovery::{Recovery, ReplaySummary};

/// The state a runtime shares with its buffers; see the module docs.
#[derive(Debug)]
pub(crate) struct RuntimeHandle {
    gpu: Option<Arc<GpuContext>>,
    /// The runtime's CPU pool, for large host copies.
    host_copies: Arc<rayon::ThreadPool>,
    pub counters: TransferCounters,
    next_buffer_id: AtomicU64,
    recovery: Recovery,
}

impl RuntimeHandle {
    pub fn new(gpu: Option<Arc<GpuContext>>, host_copies: Arc<rayon::ThreadPool>) -> Self {
        RuntimeHandle {
            gpu,
            host_copies,
            counters: TransferCounters::default(),
            next_buffer_id: AtomicU64::new(0),
            recovery: Recovery::default(),
        }
    }

    /// The GPU context, if an adapter was opened (also after device loss).
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        self.gpu.as_ref()
    }

    /// The pool large host copies run on.
    pub fn host_copies(&self) -> &rayon::ThreadPool {
        &self.host_copies
    }

    /// A fresh buffer id; ids order buffer locks (see `launch::cpu`).
    pub fn next_buffer_id(&self) -> u64 {
        self.next_buffer_id.fetch_add(1, Ordering::Relaxed)
    }

    /// If the device is lost, re-runs the GPU work it took with it on the CPU
    /// (see [`recovery`](crate::recovery)); a no-op otherwise, costing one
    /// atomic load.
    ///
    /// Call it before locking any buffer: the replay locks the buffers its
    /// entries use.
    pub fn settle_device_loss(&self) -> ReplaySummary {
        match &self.gpu {
            Some(gpu) if gpu.is_lost() => self.recovery.settle(|| gpu.take_replay_log()),
            _ => ReplaySummary::default(),
        }
    }

    /// Lost GPU launches re-run on the CPU so far.
    pub fn replayed_launches(&self) -> u64 {
        self.recovery.replayed_launches()
    }
}
