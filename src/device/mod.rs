//! The GPU side of the runtime: adapter choice, the wgpu device, its health,
//! the buffer pool and the queue of recorded-but-unsubmitted work.
//!
//! A [`GpuContext`] exists only when an adapter was found and a device opened;
//! a CPU-only runtime simply has none. Every wgpu call that can fail runs inside
//! error scopes or behind our own checks, and the device has an uncaptured-error
//! handler and a device-lost callback installed, so wgpu never panics the
//! caller's process.
//!
//! Invariants:
//! - Work is recorded into one pending command encoder and submitted at a sync
//!   point (a wait, a readback, an upload that must follow pending work).
//!   Queue order is program order, so a pooled buffer may be reused as soon as
//!   the work that used it is submitted.
//! - Sequence launches recorded or in flight are logged beside the encoder
//!   until a wait shows they finished; after device loss the log is handed to
//!   the replay (`launch::replay`), which re-runs them on the CPU.
//! - Once the device is lost, [`GpuContext::check_healthy`] fails forever and
//!   the runtime serves launches on the CPU.

mod bind_groups;
mod selection;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

pub use bind_groups::BindGroupCacheStats;
pub(crate) use bind_groups::{BindGroupKey, BoundBuffer};
pub use selection::{AdapterKind, BackendChoice};

use crate::buffer::host::{copy_bytes, COPY_CHUNK_BYTES, PARALLEL_COPY_MIN_BYTES};
use crate::buffer::pool::{PoolStats, SizeClassPool};
use crate::error::{Error, Result};
use crate::launch::ReplayEntry;
use crate::pipeline::disk::DriverPipelineCache;
use bind_groups::{BoundedCache, BIND_GROUP_CACHE_ENTRIES};
use selection::Candidate;

/// Copies `src` into write-only staging memory of the same length, in
/// [`COPY_CHUNK_BYTES`] pieces spread over `pool`. (wgpu's view is `Send`
/// per fixed-size piece, not as a slice, hence the pieces.)
fn copy_into_staging(pool: &rayon::ThreadPool, dst: wgpu::WriteOnly<'_, [u8]>, src: &[u8]) {
    use rayon::prelude::*;
    let (pieces, mut tail) = dst.into_chunks::<COPY_CHUNK_BYTES>();
    let pieces: Vec<wgpu::WriteOnly<'_, [u8; COPY_CHUNK_BYTES]>> = pieces.into_iter().collect();
    let (whole, rest) = src.split_at(pieces.len() * COPY_CHUNK_BYTES);
    pool.install(|| {
        pieces
            .into_par_iter()
            .zip(whole.par_chunks(COPY_CHUNK_BYTES))
            .for_each(|(piece, from)| {
                let mut piece: wgpu::WriteOnly<'_, [u8]> = piece.into();
                piece.copy_from_slice(from);
            });
    });
    tail.copy_from_slice(rest);
}

/// Locks a mutex, carrying on through poisoning: every critical section in this
/// crate leaves its data consistent before anything that can panic.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A description of the adapter a runtime opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInfo {
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// The backend, e.g. `Vulkan` or `Gl`.
    pub backend: String,
    /// Hardware or software, discrete or integrated.
    pub kind: AdapterKind,
    /// The driver and its version, as reported.
    pub driver: String,
}

impl GpuInfo {
    fn from_wgpu(info: &wgpu::AdapterInfo) -> Self {
        GpuInfo {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            kind: info.device_type.into(),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
        }
    }

    /// A stable string identifying this adapter and driver, used in cache keys.
    pub fn fingerprint(&self) -> String {
        format!("{}|{}|{}", self.backend, self.name, self.driver)
    }
}

impl std::fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {:?})", self.name, self.backend, self.kind)
    }
}

/// How the runtime should look for an adapter.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeviceOptions {
    pub backend: BackendChoice,
    pub adapter_name: Option<String>,
    pub pool_idle_limit_bytes: u64,
    pub cache_dir: Option<std::path::PathBuf>,
    /// The runtime's CPU pool, for large copies through staging memory
    /// (uploads into it, readbacks out of it); without one they are copied
    /// on the calling thread.
    pub host_copies: Option<Arc<rayon::ThreadPool>>,
}

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

/// Device health, shared with wgpu's callbacks.
#[derive(Debug, Default)]
struct Health {
    lost: AtomicBool,
    lost_reason: Mutex<Option<(String, String)>>,
    uncaptured: Mutex<Vec<String>>,
    /// Why a launch failed on this device; `Auto` avoids it from then on.
    unhealthy: Mutex<Option<String>>,
}

impl Health {
    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

/// The outcome of a staging buffer's `map_async`.
pub(crate) type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

/// A readback in flight: its staging buffer, and the mapping's outcome to come.
pub(crate) struct PendingDownload {
    staging: PooledBuffer,
    len: u64,
    /// The submission's index and number.
    submission: Option<(wgpu::SubmissionIndex, u64)>,
    pub mapped: futures::channel::oneshot::Receiver<MapResult>,
}

/// Measured transfer times, `(bytes, seconds)`, from
/// [`GpuContext::probe_transfers`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TransferProbe {
    pub uploads: Vec<(u64, f64)>,
    pub downloads: Vec<(u64, f64)>,
}

/// Distinct uniform values kept as buffers; past this many the cache starts
/// over (a program that changes a uniform every launch gets a new small
/// buffer per launch, which costs no more than writing a pooled one).
const UNIFORM_CACHE_ENTRIES: usize = 256;

/// The command encoder being recorded, and the sequence launches recorded
/// into it, kept for replay on the CPU should the device be lost first.
#[derive(Default)]
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    log: Vec<ReplayEntry>,
}

/// An open wgpu device with everything the runtime keeps beside it.
pub(crate) struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: GpuInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    health: Arc<Health>,
    pool: Mutex<SizeClassPool<PoolKind, wgpu::Buffer>>,
    /// Work recorded for the GPU and not yet submitted.
    pending: Mutex<Pending>,
    /// Launches submitted and not yet known to have finished, each with
    /// the number of the submission it went out in; see [`ReplayEntry`].
    in_flight: Mutex<Vec<(u64, ReplayEntry)>>,
    /// Uniform buffers by content. Each is written once when created and
    /// never again, so one buffer serves every launch with the same
    /// values, recorded, in flight or done: no staging copy and no queue
    /// write per launch.
    uniforms: Mutex<FxHashMap<Box<[u8]>, wgpu::Buffer>>,
    /// Bind groups by layout and bound buffers; see `bind_groups`.
    bind_groups: Mutex<BoundedCache<BindGroupKey, wgpu::BindGroup>>,
    submissions: AtomicU64,
    pub driver_cache: Option<DriverPipelineCache>,
    /// See [`DeviceOptions::host_copies`].
    host_copies: Option<Arc<rayon::ThreadPool>>,
    /// Allocations still to fail as out-of-memory; see
    /// [`GpuContext::simulate_out_of_memory`].
    allocations_to_fail: AtomicU64,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Features used when the adapter has them; none is required.
fn wanted_features() -> wgpu::Features {
    wgpu::Features::PIPELINE_CACHE
        | wgpu::Features::SHADER_F64
        | wgpu::Features::SHADER_F16
        | wgpu::Features::SHADER_INT64
        | wgpu::Features::SUBGROUP
        | wgpu::Features::TIMESTAMP_QUERY
}

impl GpuContext {
    /// Finds the best adapter allowed by `options` and opens it.
    ///
    /// Returns `Ok(Err(why))` when there is no usable adapter: that is not an
    /// error for the runtime, which then runs CPU-only and says why.
    ///
    /// # Errors
    /// [`Error::RequestDevice`] when an adapter was found but refused a device.
    pub fn open(options: &DeviceOptions) -> Result<std::result::Result<Arc<Self>, String>> {
        let primary = wgpu::Backends::PRIMARY & wgpu::Instance::enabled_backend_features();
        let tries: &[wgpu::Backends] = match options.backend {
            BackendChoice::None => {
                return Ok(Err("SWITCHYARD_BACKEND=none asks for no GPU".into()))
            }
            BackendChoice::Vulkan => &[wgpu::Backends::VULKAN],
            BackendChoice::Gl => &[wgpu::Backends::GL],
            BackendChoice::Auto => &[primary, wgpu::Backends::GL],
        };
        let mut seen = Vec::new();
        for &backends in tries {
            if let Some(adapter) = Self::pick_adapter(backends, options, &mut seen) {
                return Self::open_adapter(adapter, options).map(Ok);
            }
        }
        let why = if seen.is_empty() {
            "no GPU adapter found (no Vulkan or GL driver; on Debian install mesa-vulkan-drivers)"
                .to_string()
        } else {
            format!(
                "no adapter matches `{}` (SWITCHYARD_ADAPTER: a name part, or NAME#K for the K-th match); found: {}",
                options.adapter_name.as_deref().unwrap_or_default(),
                seen.join(", ")
            )
        };
        Ok(Err(why))
    }

    fn pick_adapter(
        backends: wgpu::Backends,
        options: &DeviceOptions,
        seen: &mut Vec<String>,
    ) -> Option<wgpu::Adapter> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let candidates: Vec<Candidate> = adapters
            .iter()
            .map(|adapter| {
                let info = adapter.get_info();
                Candidate {
                    name: info.name,
                    kind: info.device_type.into(),
                }
            })
            .collect();
        seen.extend(
            adapters
                .iter()
                .map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().backend)),
        );
        let index = selection::choose(&candidates, options.adapter_name.as_deref())?;
        adapters.into_iter().nth(index)
    }

    fn open_adapter(adapter: wgpu::Adapter, options: &DeviceOptions) -> Result<Arc<Self>> {
        let wgpu_info = adapter.get_info();
        let info = GpuInfo::from_wgpu(&wgpu_info);
        let features = adapter.features() & wanted_features();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("switchyard"),
            required_features: features,
            // The adapter's own limits: the defaults cap buffers at 256 MiB.
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|source| {
                Error::RequestDevice {
                    adapter: info.name.clone(),
                    source,
                }
            })?;

        let health = Arc::new(Health::default());
        let handler_health = Arc::clone(&health);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            log::error!("switchyard: uncaptured GPU error: {error}");
            lock(&handler_health.uncaptured).push(error.to_string());
        }));
        let lost_health = Arc::clone(&health);
        device.set_device_lost_callback(move |reason, message| {
            lost_health.lost.store(true, Ordering::Release);
            log::warn!(
                "switchyard: GPU device lost ({reason:?}): {message}; continuing on the CPU"
            );
            *lock(&lost_health.lost_reason) = Some((format!("{reason:?}"), message));
        });

        let driver_cache = if features.contains(wgpu::Features::PIPELINE_CACHE) {
            DriverPipelineCache::open(&device, &wgpu_info, options.cache_dir.as_deref())
        } else {
            None
        };
        let limits = device.limits();
        log::info!("switchyard: using {info}");
        Ok(Arc::new(GpuContext {
            device,
            queue,
            info,
            limits,
            features,
            health,
            pool: Mutex::new(SizeClassPool::new(options.pool_idle_limit_bytes)),
            pending: Mutex::new(Pending::default()),
            in_flight: Mutex::new(Vec::new()),
            uniforms: Mutex::new(FxHashMap::default()),
            bind_groups: Mutex::new(BoundedCache::new(BIND_GROUP_CACHE_ENTRIES)),
            submissions: AtomicU64::new(0),
            driver_cache,
            host_copies: options.host_copies.clone(),
            allocations_to_fail: AtomicU64::new(0),
        }))
    }

    /// # Errors
    /// [`Error::DeviceLost`] once the device is gone.
    pub fn check_healthy(&self) -> Result<()> {
        if !self.health.is_lost() {
            return Ok(());
        }
        let (reason, message) = lock(&self.health.lost_reason)
            .clone()
            .unwrap_or_else(|| ("Unknown".into(), String::new()));
        Err(Error::DeviceLost { reason, message })
    }

    /// Whether the device has been lost.
    pub fn is_lost(&self) -> bool {
        self.health.is_lost()
    }

    /// Marks the device unhealthy after a failed launch, so `Auto` stops
    /// choosing it. Returns true the first time, so the caller warns once.
    pub fn mark_unhealthy(&self, why: String) -> bool {
        let mut unhealthy = lock(&self.health.unhealthy);
        let first = unhealthy.is_none();
        unhealthy.get_or_insert(why);
        first
    }

    /// Why the device was marked unhealthy, if it was.
    pub fn unhealthy_reason(&self) -> Option<String> {
        lock(&self.health.unhealthy).clone()
    }

    /// Measures upload and readback time at a small and a larger size
    /// (64 KiB and 4 MiB, each the fastest of three runs: the first is cold,
    /// and a busy machine only ever adds time), as `(bytes, seconds)` per
    /// direction.
    ///
    /// # Errors
    /// Allocation, submission or readback failures.
    pub fn probe_transfers(self: &Arc<Self>) -> Result<TransferProbe> {
        const SIZES: [usize; 2] = [64 << 10, 4 << 20];
        let largest = SIZES[SIZES.len() - 1];
        let device = self.acquire(PoolKind::Storage, largest as u64)?;
        let mut host = vec![0u8; largest];
        let mut probe = TransferProbe::default();
        for &bytes in &SIZES {
            let mut upload_seconds = f64::INFINITY;
            let mut download_seconds = f64::INFINITY;
            for _ in 0..3 {
                let started = Instant::now();
                self.upload(device.buffer(), &host[..bytes])?;
                self.apply_writes_and_wait("transfer probe")?;
                upload_seconds = upload_seconds.min(started.elapsed().as_secs_f64());
                let started = Instant::now();
                self.download(device.buffer(), &mut host[..bytes])?;
                download_seconds = download_seconds.min(started.elapsed().as_secs_f64());
            }
            probe.uploads.push((bytes as u64, upload_seconds));
            probe.downloads.push((bytes as u64, download_seconds));
        }
        Ok(probe)
    }

    /// Destroys the device, as a driver fault would; for failover tests.
    pub fn simulate_loss(&self) {
        self.device.destroy();
        // Some backends report the loss only on the next poll.
        let _ = self.device.poll(wgpu::PollType::Poll);
        self.health.lost.store(true, Ordering::Release);
        lock(&self.health.lost_reason).get_or_insert_with(|| {
            (
                "Destroyed".into(),
                "device destroyed by Runtime::simulate_device_loss".into(),
            )
        });
    }

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

    /// Runs `f` inside validation and out-of-memory error scopes and turns what
    /// they caught into typed errors.
    pub fn scoped<R>(&self, operation: &str, bytes: u64, f: impl FnOnce() -> R) -> Result<R> {
        let oom_scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation_scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation = pollster::block_on(validation_scope.pop());
        let oom = pollster::block_on(oom_scope.pop());
        if let Some(wgpu::Error::OutOfMemory { .. }) = oom {
            return Err(Error::GpuOutOfMemory {
                operation: operation.into(),
                bytes,
            });
        }
        if let Some(source) = validation.or(oom) {
            return Err(Error::Gpu {
                operation: operation.into(),
                source,
            });
        }
        self.check_healthy()?;
        Ok(value)
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
    fn forget_bind_groups(&self) {
        lock(&self.bind_groups).clear();
    }

    /// The buffer pool's counters and footprint.
    pub fn pool_stats(&self) -> PoolStats {
        lock(&self.pool).stats()
    }

    /// Records commands into the pending encoder.
    pub fn record<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut pending = lock(&self.pending);
        let encoder = pending.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("switchyard batch"),
                })
        });
        f(encoder)
    }

    /// A uniform buffer holding `bytes` (zero-padded to 16 bytes), shared
    /// by every launch with the same values; see `GpuContext::uniforms`.
    ///
    /// # Errors
    /// [`Error::GpuOutOfMemory`] or [`Error::Gpu`] when a new buffer cannot
    /// be created.
    pub fn uniform_buffer(&self, bytes: &[u8]) -> Result<wgpu::Buffer> {
        let mut cache = lock(&self.uniforms);
        if let Some(buffer) = cache.get(bytes) {
            return Ok(buffer.clone());
        }
        if cache.len() >= UNIFORM_CACHE_ENTRIES {
            cache.clear();
        }
        let size = bytes.len().next_multiple_of(16).max(16) as u64;
        let buffer = self.scoped("uniform buffer creation", size, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("switchyard uniform"),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        // The queue applies the write before any later submission, so
        // before every launch that can bind this buffer. New buffers start
        // zeroed, which pads the value.
        self.write_padded(&buffer, 0, bytes);
        cache.insert(bytes.into(), buffer.clone());
        Ok(buffer)
    }

    /// A bind group binding `key.entries` through `key.layout`: a cached one
    /// when an earlier launch bound the same buffers (see `bind_groups`),
    /// else a new one, created inside error scopes.
    ///
    /// # Errors
    /// [`Error::Gpu`] when wgpu rejects the bind group, or device loss.
    pub fn bind_group(&self, key: BindGroupKey, label: &str) -> Result<wgpu::BindGroup> {
        lock(&self.bind_groups).get_or_try_insert(key, |key| {
            let entries: Vec<wgpu::BindGroupEntry<'_>> = key
                .entries
                .iter()
                .map(|entry| wgpu::BindGroupEntry {
                    binding: entry.binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &entry.buffer,
                        offset: entry.offset,
                        size: std::num::NonZeroU64::new(entry.bytes),
                    }),
                })
                .collect();
            self.scoped(&format!("bind group creation for `{label}`"), 0, || {
                self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(label),
                    layout: &key.layout,
                    entries: &entries,
                })
            })
        })
    }

    /// Bind-group reuse so far.
    pub fn bind_group_stats(&self) -> BindGroupCacheStats {
        lock(&self.bind_groups).stats()
    }

    /// Command submissions made so far.
    pub fn submissions(&self) -> u64 {
        self.submissions.load(Ordering::Relaxed)
    }

    /// Whether commands are waiting for submission.
    pub fn has_pending(&self) -> bool {
        lock(&self.pending).encoder.is_some()
    }

    /// Keeps `entry`, a sequence launch just recorded, until a wait shows
    /// that the GPU finished it; [`take_replay_log`](Self::take_replay_log)
    /// hands it back if the device is lost first. Called after recording,
    /// so an entry whose commands another thread has submitted meanwhile
    /// goes with the latest submission: it may be kept longer than needed,
    /// never dropped too early.
    pub fn log_for_replay(&self, entry: ReplayEntry) {
        let mut pending = lock(&self.pending);
        if pending.encoder.is_some() {
            pending.log.push(entry);
        } else {
            let latest = self.submissions.load(Ordering::Acquire);
            lock(&self.in_flight).push((latest, entry));
        }
    }

    /// Whether logged launches wait for a submission or for a wait.
    pub fn has_unfinished_log(&self) -> bool {
        !lock(&self.pending).log.is_empty() || !lock(&self.in_flight).is_empty()
    }

    /// After device loss: every logged launch not known to have finished, in
    /// the order they were logged (a thread's own launches in program
    /// order). The unsubmitted commands are discarded.
    pub fn take_replay_log(&self) -> Vec<ReplayEntry> {
        let mut pending = lock(&self.pending);
        pending.encoder = None;
        let recorded = std::mem::take(&mut pending.log);
        let mut in_flight = lock(&self.in_flight);
        let mut entries: Vec<ReplayEntry> = in_flight.drain(..).map(|(_, entry)| entry).collect();
        entries.extend(recorded);
        entries
    }

    /// Drops the logged launches of submissions up to `number`, which a wait
    /// has just shown to be finished.
    fn forget_finished(&self, number: u64) {
        let finished: Vec<(u64, ReplayEntry)> = {
            let mut in_flight = lock(&self.in_flight);
            if in_flight.is_empty() {
                return;
            }
            let (done, running) = std::mem::take(&mut *in_flight)
                .into_iter()
                .partition(|(submission, _)| *submission <= number);
            *in_flight = running;
            done
        };
        // Dropped outside the lock: the last hold on a buffer's state gives
        // its device copy back to the pool.
        drop(finished);
    }

    /// Submits the pending commands, if any, without waiting.
    ///
    /// # Errors
    /// A validation error caught while finishing or submitting, or device loss.
    pub fn submit_pending(&self, operation: &str) -> Result<Option<wgpu::SubmissionIndex>> {
        Ok(self.submit_numbered(operation)?.map(|(index, _)| index))
    }

    /// [`submit_pending`](Self::submit_pending), also returning the
    /// submission's number (1 for the first).
    fn submit_numbered(&self, operation: &str) -> Result<Option<(wgpu::SubmissionIndex, u64)>> {
        // The lock is held until the queue has the commands: a thread that
        // finds nothing pending may then rely on everything recorded before
        // being submitted (a readback maps its staging buffer right after,
        // and wgpu refuses a submission that uses a mapped buffer).
        let mut pending = lock(&self.pending);
        let Some(encoder) = pending.encoder.take() else {
            return Ok(None);
        };
        // On an error the commands are gone but their log stays: it goes
        // with the next submission, or to a replay if the device was lost.
        let index = self.scoped(operation, 0, || self.queue.submit([encoder.finish()]))?;
        let number = self.submissions.fetch_add(1, Ordering::AcqRel) + 1;
        if !pending.log.is_empty() {
            let recorded = std::mem::take(&mut pending.log);
            lock(&self.in_flight).extend(recorded.into_iter().map(|entry| (number, entry)));
        }
        drop(pending);
        Ok(Some((index, number)))
    }

    /// Submits pending commands, with the queue's writes (uploads) that
    /// have no command after them yet, and blocks until the GPU has finished
    /// them all.
    ///
    /// # Errors
    /// As [`flush_and_wait`](Self::flush_and_wait).
    pub fn apply_writes_and_wait(&self, operation: &str) -> Result<()> {
        // The queue applies writes at the next submission; an empty command
        // makes sure there is one.
        self.record(|_| {});
        self.flush_and_wait(operation)
    }

    /// Submits pending commands and blocks until the GPU has finished them.
    ///
    /// # Errors
    /// As [`submit_pending`](Self::submit_pending), and [`Error::Poll`].
    pub fn flush_and_wait(&self, operation: &str) -> Result<()> {
        let submitted = self.submit_numbered(operation)?;
        self.wait(submitted, operation)
    }

    /// Blocks until `submission` (and all before it) has finished, or all
    /// submitted work when `None`.
    fn wait(
        &self,
        submission: Option<(wgpu::SubmissionIndex, u64)>,
        operation: &str,
    ) -> Result<()> {
        let (index, number) = match submission {
            Some((index, number)) => (Some(index), number),
            None => (None, self.submissions.load(Ordering::Acquire)),
        };
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: None,
            })
            .map_err(|source| {
                self.check_healthy().err().unwrap_or(Error::Poll {
                    operation: operation.into(),
                    source,
                })
            })?;
        self.check_healthy()?;
        self.forget_finished(number);
        Ok(())
    }

    /// Copies `bytes` into the start of `target`. Work already recorded is
    /// submitted first: the queue applies writes before the next submission,
    /// which would otherwise reorder them before recorded kernels.
    ///
    /// # Errors
    /// As [`submit_pending`](Self::submit_pending).
    pub fn upload(&self, target: &wgpu::Buffer, bytes: &[u8]) -> Result<()> {
        self.upload_at(target, 0, bytes)
    }

    /// [`upload`](Self::upload) at byte `offset`, which must be a multiple
    /// of [`wgpu::COPY_BUFFER_ALIGNMENT`]; so must `bytes.len()`, unless the
    /// write ends at the end of the buffer's data (it is padded with zeros).
    ///
    /// # Errors
    /// As [`submit_pending`](Self::submit_pending).
    pub fn upload_at(&self, target: &wgpu::Buffer, offset: u64, bytes: &[u8]) -> Result<()> {
        if self.has_pending() {
            self.submit_pending("upload ordering")?;
        }
        self.write_padded(target, offset, bytes);
        Ok(())
    }

    /// `queue.write_buffer` with the length padded to wgpu's 4-byte copy
    /// alignment (buffers are allocated in size classes, so there is room).
    /// Large writes fill wgpu's staging memory from the runtime's pool
    /// instead of one thread.
    pub fn write_padded(&self, target: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let padded_len = (bytes.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        if let (Some(pool), Some(size)) = (&self.host_copies, wgpu::BufferSize::new(padded_len)) {
            if bytes.len() >= PARALLEL_COPY_MIN_BYTES {
                if let Some(mut view) = self.queue.write_buffer_with(target, offset, size) {
                    let (data, mut padding) = view.slice(..).split_at(bytes.len());
                    copy_into_staging(pool, data, bytes);
                    padding.fill(0);
                    return;
                }
                // wgpu refused the view (and reported why); the plain write
                // below reports the same error through the same channel.
            }
        }
        let rem = bytes.len() % wgpu::COPY_BUFFER_ALIGNMENT as usize;
        if rem == 0 {
            self.queue.write_buffer(target, offset, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(padded_len as usize, 0);
            self.queue.write_buffer(target, offset, &padded);
        }
    }

    /// Reads the first `out.len()` bytes of `source` into `out`, submitting
    /// pending work first and waiting for it.
    ///
    /// # Errors
    /// [`Error::Map`], [`Error::Poll`], device loss, or a staging allocation failure.
    pub fn download(self: &Arc<Self>, source: &wgpu::Buffer, out: &mut [u8]) -> Result<()> {
        self.download_at(source, 0, out)
    }

    /// [`download`](Self::download) from byte `offset` of `source`, which
    /// must be a multiple of [`wgpu::COPY_BUFFER_ALIGNMENT`]; the length is
    /// padded to it (device buffers have room: size classes are multiples).
    ///
    /// # Errors
    /// As [`download`](Self::download).
    pub fn download_at(
        self: &Arc<Self>,
        source: &wgpu::Buffer,
        offset: u64,
        out: &mut [u8],
    ) -> Result<()> {
        let Some(mut pending) = self.start_download(source, offset, out.len())? else {
            return Ok(());
        };
        self.wait(pending.submission.clone(), "readback")?;
        // The wait ran the map callback, so this resolves at once.
        let mapped = futures::executor::block_on(&mut pending.mapped);
        self.finish_download(&pending, mapped, out)
    }

    /// Copies `bytes` bytes of `source` from byte `offset` to a staging
    /// buffer, submits, and asks for it to be mapped; `None` for zero bytes.
    /// Nothing waits here: the mapping completes when the device is polled.
    pub fn start_download(
        self: &Arc<Self>,
        source: &wgpu::Buffer,
        offset: u64,
        bytes: usize,
    ) -> Result<Option<PendingDownload>> {
        if bytes == 0 {
            return Ok(None);
        }
        let len = (bytes as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = self.acquire(PoolKind::Readback, len)?;
        self.record(|encoder| {
            encoder.copy_buffer_to_buffer(source, offset, staging.buffer(), 0, len);
        });
        let submission = self.submit_numbered("readback")?;
        let (sender, receiver) = futures::channel::oneshot::channel();
        staging
            .buffer()
            .map_async(wgpu::MapMode::Read, 0..len, move |result| {
                let _ = sender.send(result);
            });
        Ok(Some(PendingDownload {
            staging,
            len,
            submission,
            mapped: receiver,
        }))
    }

    /// Copies a mapped staging buffer into `out` and unmaps it.
    pub fn finish_download(
        &self,
        pending: &PendingDownload,
        mapped: std::result::Result<MapResult, futures::channel::oneshot::Canceled>,
        out: &mut [u8],
    ) -> Result<()> {
        let lost = |message: &str| Error::DeviceLost {
            reason: "Unknown".into(),
            message: message.into(),
        };
        self.check_healthy()?;
        mapped
            .map_err(|_| lost("the readback callback never ran"))?
            .map_err(|source| Error::Map {
                operation: "readback".into(),
                source,
            })?;
        let buffer = pending.staging.buffer();
        {
            let view = buffer
                .get_mapped_range(0..pending.len)
                .map_err(|_| lost("mapped range unavailable after a successful map"))?;
            let data = &view[..out.len()];
            // A 16 MiB readback took 5.3 ms with this copy on one thread and
            // 2.8 ms on two (raw wgpu with one copy: 2.8 ms).
            match &self.host_copies {
                Some(pool) => copy_bytes(pool, out, data),
                None => out.copy_from_slice(data),
            }
        }
        buffer.unmap();
        Ok(())
    }

    /// Waits on another thread for `pending`'s submission, so an async reader
    /// is woken by the map callback instead of blocking its executor.
    pub fn poll_in_background(self: &Arc<Self>, pending: &PendingDownload) {
        let gpu = Arc::clone(self);
        let submission = pending.submission.clone();
        std::thread::spawn(move || {
            if let Err(e) = gpu.wait(submission, "async readback") {
                log::warn!("switchyard: async readback wait failed: {e}");
            }
        });
    }

    /// Blocks until all submitted work is done (pending work is submitted too).
    ///
    /// # Errors
    /// As [`flush_and_wait`](Self::flush_and_wait).
    pub fn sync(&self) -> Result<()> {
        self.flush_and_wait("synchronize")
    }
}
