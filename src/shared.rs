//! What a runtime shares with its launches: the [`RuntimeHandle`] its
//! buffers hold, plus the dispatcher, pins, pipeline cache and CPU pool
//! that only launches use.
//!
//! `Runtime` (above) is a cheap handle to one `RuntimeShared`; the launch
//! path (below `runtime`, above everything else) reads it. Dropping the last
//! `Runtime` saves the learned dispatch model and the driver pipeline cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cpu::CpuPool;
use crate::device::{GpuContext, TransferCounters};
use crate::dispatch::{persist, Direction, Dispatcher, Load, Target};
use crate::error::Result;
use crate::handle::RuntimeHandle;
use crate::pipeline::{GpuPipeline, PipelineCache};
use crate::sync::lock;

/// State shared by a runtime's handles and its launches; buffers hold only
/// the [`RuntimeHandle`] part.
pub(crate) struct RuntimeShared {
    handle: Arc<RuntimeHandle>,
    gpu_absent_reason: String,
    cpu: CpuPool,
    pipelines: PipelineCache<GpuPipeline>,
    default_target: Target,
    dispatcher: Mutex<Dispatcher>,
    pins: Mutex<HashMap<String, Target>>,
    /// Whether `pins` holds any: read on every launch, without the lock.
    any_pins: AtomicBool,
    /// The machine the dispatch model is learned for (adapter and threads).
    machine_identity: String,
    cache_dir: Option<PathBuf>,
    transfers_probed: AtomicBool,
    /// Signature (kernel and buffers) of the latest launch; see
    /// [`repeats_previous_launch`](Self::repeats_previous_launch).
    previous_launch: AtomicU64,
    /// Launches in the latest finished sequence: a new sequence reserves
    /// room for as many reports, since programs repeat their sequences.
    sequence_length: AtomicUsize,
    /// Submitted launches in flight on each target.
    load: Mutex<Load>,
    /// Pending launches neither waited for nor dropped (leaked ones stay).
    outstanding: Arc<AtomicUsize>,
}

/// One pending launch not yet waited for or dropped, counted in its
/// runtime until this is dropped.
#[derive(Debug)]
pub(crate) struct Outstanding(Arc<AtomicUsize>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The most reports a new sequence reserves room for.
const MAX_RESERVED_REPORTS: usize = 4096;

impl RuntimeShared {
    /// The state of a new runtime; see [`Runtime::with_config`](crate::Runtime::with_config).
    pub fn new(
        handle: RuntimeHandle,
        gpu_absent_reason: String,
        cpu: CpuPool,
        default_target: Target,
        dispatcher: Dispatcher,
        machine_identity: String,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        RuntimeShared {
            handle: Arc::new(handle),
            gpu_absent_reason,
            cpu,
            pipelines: PipelineCache::default(),
            default_target,
            dispatcher: Mutex::new(dispatcher),
            pins: Mutex::new(HashMap::new()),
            any_pins: AtomicBool::new(false),
            machine_identity,
            cache_dir,
            transfers_probed: AtomicBool::new(false),
            previous_launch: AtomicU64::new(0),
            sequence_length: AtomicUsize::new(0),
            load: Mutex::default(),
            outstanding: Arc::default(),
        }
    }

    /// How many reports a new sequence should have room for.
    pub fn expected_sequence_length(&self) -> usize {
        self.sequence_length
            .load(Ordering::Relaxed)
            .min(MAX_RESERVED_REPORTS)
    }

    /// Notes the length of a sequence just finished.
    pub fn finished_sequence(&self, launches: usize) {
        self.sequence_length.store(launches, Ordering::Relaxed);
    }

    /// The submitted launches in flight on each target.
    pub fn load(&self) -> MutexGuard<'_, Load> {
        lock(&self.load)
    }

    /// Pending launches their callers still hold: a burst of submissions
    /// is under way while there are any.
    pub fn outstanding_launches(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Counts a new pending launch until the value returned is dropped.
    pub fn count_outstanding(&self) -> Outstanding {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        Outstanding(Arc::clone(&self.outstanding))
    }

    /// The part buffers share; see [`RuntimeHandle`].
    pub fn handle(&self) -> &Arc<RuntimeHandle> {
        &self.handle
    }

    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        self.handle.gpu()
    }

    pub fn counters(&self) -> &TransferCounters {
        &self.handle.counters
    }

    pub fn gpu_absent_reason(&self) -> &str {
        &self.gpu_absent_reason
    }

    pub fn cpu(&self) -> &CpuPool {
        &self.cpu
    }

    pub fn pipelines(&self) -> &PipelineCache<GpuPipeline> {
        &self.pipelines
    }

    pub fn default_target(&self) -> Target {
        self.default_target
    }

    /// The kernel's pin, if any.
    pub fn pin_of(&self, kernel: &str) -> Option<Target> {
        if !self.any_pins.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.pins).get(kernel).copied()
    }

    /// Pins `kernel` to `target`; `Target::Auto` removes the pin.
    pub fn pin(&self, kernel: &str, target: Target) {
        let mut pins = lock(&self.pins);
        if target == Target::Auto {
            pins.remove(kernel);
        } else {
            pins.insert(kernel.to_string(), target);
        }
        self.any_pins.store(!pins.is_empty(), Ordering::Release);
    }

    /// The file the learned dispatch model persists to, when persistence is on.
    pub fn dispatch_model_path(&self) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        Some(persist::model_path(dir, &self.machine_identity))
    }

    /// The dispatcher, with any readbacks measured since the last call learned.
    pub fn dispatcher(&self) -> MutexGuard<'_, Dispatcher> {
        let measured = self.counters().take_measured_downloads();
        let mut dispatcher = lock(&self.dispatcher);
        for (bytes, seconds) in measured {
            dispatcher.observe_transfer(Direction::Download, bytes, seconds);
        }
        dispatcher
    }

    /// Records a launch's signature (a hash of its kernel and buffers) and
    /// says whether the launch before it had the same one. With launches from
    /// several threads the answer may be stale; it only steers the
    /// dispatcher's estimate of which transfers will recur.
    pub fn repeats_previous_launch(&self, signature: u64) -> bool {
        self.previous_launch.swap(signature, Ordering::Relaxed) == signature
    }

    /// Measures transfer costs once, the first time a learned choice needs
    /// them, nothing was loaded from disk and the GPU has no recorded or
    /// unfinished logged work. A failed probe leaves the priors.
    pub fn probe_transfers_once(&self, gpu: &Arc<GpuContext>) {
        // Checked on every Auto launch: a plain load keeps the flag's cache
        // line shared between threads after the first probe.
        if self.transfers_probed.load(Ordering::Acquire) {
            return;
        }
        // The probe submits and waits for everything on the queue. Beside
        // recorded work (a sequence's) it would finish that work early and
        // drop it from the replay log, so a device loss right after would
        // lose results that exist only on the device; the next launch that
        // finds the queue idle probes instead. (Another thread may record
        // between this check and the probe: that sequence then loses the
        // replay of what the probe finished, as after any wait.)
        if gpu.has_pending() || gpu.has_unfinished_log() {
            return;
        }
        if self.transfers_probed.swap(true, Ordering::AcqRel)
            || lock(&self.dispatcher).links_measured()
        {
            return;
        }
        match gpu.probe_transfers() {
            Ok(probe) => {
                let mut dispatcher = self.dispatcher();
                for (bytes, seconds) in probe.uploads {
                    dispatcher.observe_transfer(Direction::Upload, bytes, seconds);
                }
                for (bytes, seconds) in probe.downloads {
                    dispatcher.observe_transfer(Direction::Download, bytes, seconds);
                }
            }
            Err(e) => log::warn!("switchyard: transfer probe failed, using priors: {e}"),
        }
    }

    /// Writes the learned dispatch model to the cache directory, if any.
    pub fn save_dispatch_model(&self) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.cache_dir else {
            return Ok(None);
        };
        let dispatcher = self.dispatcher();
        persist::save(dir, &self.machine_identity, &dispatcher).map(Some)
    }
}

impl Drop for RuntimeShared {
    fn drop(&mut self) {
        if let Err(e) = self.save_dispatch_model() {
            log::warn!("switchyard: could not save the dispatch model: {e}");
        }
        let Some(gpu) = self.gpu() else { return };
        if gpu.is_lost() {
            return;
        }
        if let Some(cache) = &gpu.driver_cache {
            if let Err(e) = cache.save() {
                log::warn!("switchyard: could not save the pipeline cache: {e}");
            }
        }
    }
}
