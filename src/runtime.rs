//! The [`Runtime`]: one GPU context (or none), one CPU pool, one pipeline
//! cache, and the configuration that ties them together.
//!
//! A runtime owns everything it uses; there are no process-wide globals, and
//! two runtimes in one process share nothing. `Runtime` is a cheap handle
//! (`Clone`, `Send + Sync`); buffers keep the runtime's shared state alive.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytemuck::Pod;

use crate::buffer::transfer::TransferCounters;
use crate::buffer::{Buffer, PoolStats, TransferStats};
use crate::cpu::CpuPool;
use crate::device::{lock, BackendChoice, BindGroupCacheStats, DeviceOptions, GpuContext, GpuInfo};
use crate::dispatch::{persist, DispatchReport, Dispatcher, Machine, PolicyConfig, Target};
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::launch::{Launch, Sequence};
use crate::pipeline::{CacheOutcome, GpuPipeline, PipelineCache, PipelineCacheStats};

/// Default idle bytes the buffer pool keeps for reuse.
const DEFAULT_POOL_IDLE_LIMIT: u64 = 256 << 20;

/// How to build a [`Runtime`].
///
/// [`RuntimeConfig::from_env`] reads the `SWITCHYARD_*` variables; builder
/// calls made afterwards override them.
///
/// | variable | meaning |
/// |---|---|
/// | `SWITCHYARD_BACKEND` | `auto` (default), `vulkan`, `gl`, or `none` (CPU only) |
/// | `SWITCHYARD_ADAPTER` | use only adapters whose name contains this (case-insensitive); `NAME#K`: the K-th of them, from 0 |
/// | `SWITCHYARD_TARGET` | `auto` (default), `gpu` or `cpu`: the target of launches that do not choose one |
/// | `SWITCHYARD_CACHE_DIR` | where the driver pipeline cache and the learned dispatch model are kept (default: the user cache dir + `switchyard`); `off` disables both |
/// | `SWITCHYARD_CPU_THREADS` | CPU pool threads (default: one per core) |
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    backend: BackendChoice,
    adapter_name: Option<String>,
    cpu_threads: usize,
    cache_dir: Option<PathBuf>,
    pool_idle_limit_bytes: u64,
    default_target: Target,
}

impl Default for RuntimeConfig {
    /// Best adapter, all cores, the user's cache directory; no environment read.
    fn default() -> Self {
        RuntimeConfig {
            backend: BackendChoice::Auto,
            adapter_name: None,
            cpu_threads: 0,
            cache_dir: dirs::cache_dir().map(|dir| dir.join("switchyard")),
            pool_idle_limit_bytes: DEFAULT_POOL_IDLE_LIMIT,
            default_target: Target::Auto,
        }
    }
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

impl RuntimeConfig {
    /// The default configuration with the `SWITCHYARD_*` variables applied.
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable whose value is not understood.
    pub fn from_env() -> Result<Self> {
        RuntimeConfig::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`
    /// (empty values count as unset).
    ///
    /// # Errors
    /// [`Error::Config`] naming the variable whose value is not understood.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let env_var = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut config = RuntimeConfig::default();
        if let Some(value) = env_var("SWITCHYARD_BACKEND") {
            config.backend = BackendChoice::parse(&value)?;
        }
        config.adapter_name = env_var("SWITCHYARD_ADAPTER");
        if let Some(value) = env_var("SWITCHYARD_CACHE_DIR") {
            config.cache_dir = (value != "off").then(|| PathBuf::from(value));
        }
        if let Some(value) = env_var("SWITCHYARD_TARGET") {
            config.default_target = value.parse().map_err(|_| Error::Config {
                key: "SWITCHYARD_TARGET".into(),
                value,
                message: "expected auto, gpu or cpu".into(),
            })?;
        }
        if let Some(value) = env_var("SWITCHYARD_CPU_THREADS") {
            config.cpu_threads = value.trim().parse().map_err(|_| Error::Config {
                key: "SWITCHYARD_CPU_THREADS".into(),
                value,
                message: "expected a whole number of threads".into(),
            })?;
        }
        Ok(config)
    }

    /// Which backends to try.
    pub fn backend(mut self, backend: BackendChoice) -> Self {
        self.backend = backend;
        self
    }

    /// Use only adapters whose name contains `name` (case-insensitive);
    /// `NAME#K` takes the K-th of those (from 0, in enumeration order), to
    /// give each of several identical GPUs its own process.
    pub fn adapter_name(mut self, name: impl Into<String>) -> Self {
        self.adapter_name = Some(name.into());
        self
    }

    /// CPU pool threads; 0 means one per available core.
    pub fn cpu_threads(mut self, threads: usize) -> Self {
        self.cpu_threads = threads;
        self
    }

    /// Directory for the driver pipeline cache and the learned dispatch model;
    /// `None` keeps both in memory only.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// The most bytes of idle GPU buffers kept for reuse.
    pub fn pool_idle_limit_bytes(mut self, bytes: u64) -> Self {
        self.pool_idle_limit_bytes = bytes;
        self
    }

    /// The target of launches that do not call `.on(...)` and whose kernel is
    /// not [pinned](Runtime::pin).
    pub fn default_target(mut self, target: Target) -> Self {
        self.default_target = target;
        self
    }
}

/// State shared by a runtime and every buffer it made.
pub(crate) struct RuntimeShared {
    gpu: Option<Arc<GpuContext>>,
    gpu_absent_reason: String,
    cpu: CpuPool,
    pub counters: TransferCounters,
    pipelines: PipelineCache<GpuPipeline>,
    next_buffer_id: AtomicU64,
    default_target: Target,
    dispatcher: Mutex<Dispatcher>,
    pins: Mutex<HashMap<String, Target>>,
    /// The machine the dispatch model is learned for (adapter and threads).
    machine_identity: String,
    cache_dir: Option<PathBuf>,
    transfers_probed: AtomicBool,
    /// Held while lost GPU work is re-run on the CPU; see `launch::replay`.
    replay_lock: Mutex<()>,
    /// Lost GPU launches re-run on the CPU so far.
    pub replayed_launches: AtomicU64,
    /// Signature (kernel and buffers) of the latest launch; see
    /// [`repeats_previous_launch`](Self::repeats_previous_launch).
    previous_launch: AtomicU64,
}

impl RuntimeShared {
    pub fn gpu(&self) -> Option<&Arc<GpuContext>> {
        self.gpu.as_ref()
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

    pub fn replay_lock(&self) -> &Mutex<()> {
        &self.replay_lock
    }

    pub fn next_buffer_id(&self) -> u64 {
        self.next_buffer_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn default_target(&self) -> Target {
        self.default_target
    }

    /// The kernel's pin, if any.
    pub fn pin_of(&self, kernel: &str) -> Option<Target> {
        lock(&self.pins).get(kernel).copied()
    }

    /// The dispatcher, with any readbacks measured since the last call learned.
    pub fn dispatcher(&self) -> MutexGuard<'_, Dispatcher> {
        let measured = self.counters.take_measured_downloads();
        let mut dispatcher = lock(&self.dispatcher);
        for (bytes, seconds) in measured {
            dispatcher.observe_transfer(crate::dispatch::Direction::Download, bytes, seconds);
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
    /// them and nothing was loaded from disk. A failed probe leaves the priors.
    pub fn probe_transfers_once(&self, gpu: &Arc<GpuContext>) {
        // Checked on every Auto launch: a plain load keeps the flag's cache
        // line shared between threads after the first probe.
        if self.transfers_probed.load(Ordering::Acquire)
            || self.transfers_probed.swap(true, Ordering::AcqRel)
            || lock(&self.dispatcher).links_measured()
        {
            return;
        }
        match gpu.probe_transfers() {
            Ok(probe) => {
                let mut dispatcher = self.dispatcher();
                for (bytes, seconds) in probe.uploads {
                    dispatcher.observe_transfer(crate::dispatch::Direction::Upload, bytes, seconds);
                }
                for (bytes, seconds) in probe.downloads {
                    dispatcher.observe_transfer(
                        crate::dispatch::Direction::Download,
                        bytes,
                        seconds,
                    );
                }
            }
            Err(e) => log::warn!("switchyard: transfer probe failed, using priors: {e}"),
        }
    }

    fn save_dispatch_model(&self) -> Result<Option<PathBuf>> {
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
        let Some(gpu) = &self.gpu else { return };
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

/// Memory held by a runtime's GPU buffer pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// The pool's footprint and counters (all zero without a GPU).
    pub gpu_pool: PoolStats,
}

/// The entry point: opens the best GPU (or none) and a CPU pool, makes
/// buffers, and launches kernels.
///
/// ```
/// use switchyard::{kernels, Runtime, Target};
///
/// # fn main() -> switchyard::Result<()> {
/// let rt = Runtime::new()?;
/// let n = 1000u32;
/// let x = rt.buffer_from_slice(&vec![1.0f32; n as usize])?;
/// let mut y = rt.buffer_from_slice(&vec![2.0f32; n as usize])?;
/// let report = rt
///     .launch(&kernels::saxpy())
///     .uniform(&kernels::SaxpyParams { a: 3.0, n })
///     .read(&x)
///     .write(&mut y)
///     .invocations(n)
///     .on(Target::Auto)
///     .run()?;
/// println!("{report}");
/// assert!(y.to_vec()?.iter().all(|&v| v == 5.0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<RuntimeShared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("gpu", &self.gpu_info())
            .field("cpu_threads", &self.cpu_threads())
            .finish()
    }
}

impl Runtime {
    /// A runtime configured from the environment ([`RuntimeConfig::from_env`]).
    ///
    /// Finding no adapter is not an error: the runtime runs CPU-only and logs
    /// one warning saying why.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed `SWITCHYARD_*` variable,
    /// [`Error::RequestDevice`] when an adapter refuses a device,
    /// [`Error::ThreadPool`] when the CPU pool cannot start.
    pub fn new() -> Result<Runtime> {
        Runtime::with_config(RuntimeConfig::from_env()?)
    }

    /// A runtime built from `config`.
    ///
    /// # Errors
    /// As [`Runtime::new`], less the environment.
    pub fn with_config(config: RuntimeConfig) -> Result<Runtime> {
        let cpu = CpuPool::new(config.cpu_threads)?;
        let options = DeviceOptions {
            backend: config.backend,
            adapter_name: config.adapter_name.clone(),
            pool_idle_limit_bytes: config.pool_idle_limit_bytes,
            cache_dir: config.cache_dir.clone(),
            host_copies: Some(cpu.shared()),
        };
        let (gpu, gpu_absent_reason) = match GpuContext::open(&options)? {
            Ok(gpu) => (Some(gpu), String::new()),
            Err(why) => {
                log::warn!("switchyard: running CPU-only: {why}");
                (None, why)
            }
        };
        let machine = Machine {
            gpu_hardware: gpu.as_ref().is_some_and(|g| g.info.kind.is_hardware()),
            cpu_threads: cpu.threads(),
        };
        let machine_identity = format!(
            "{} | {} CPU threads",
            gpu.as_ref()
                .map_or_else(|| "no GPU".to_string(), |g| g.info.fingerprint()),
            cpu.threads()
        );
        let mut dispatcher = Dispatcher::new(PolicyConfig::default(), machine);
        if let Some(dir) = &config.cache_dir {
            let samples = persist::load(dir, &machine_identity, &mut dispatcher);
            if samples > 0 {
                log::debug!(
                    "switchyard: loaded {samples} dispatch timings from {}",
                    dir.display()
                );
            }
        }
        Ok(Runtime {
            shared: Arc::new(RuntimeShared {
                gpu,
                gpu_absent_reason,
                cpu,
                counters: TransferCounters::default(),
                pipelines: PipelineCache::default(),
                next_buffer_id: AtomicU64::new(0),
                default_target: config.default_target,
                dispatcher: Mutex::new(dispatcher),
                pins: Mutex::new(HashMap::new()),
                machine_identity,
                cache_dir: config.cache_dir,
                transfers_probed: AtomicBool::new(false),
                replay_lock: Mutex::new(()),
                replayed_launches: AtomicU64::new(0),
                previous_launch: AtomicU64::new(0),
            }),
        })
    }

    /// A buffer holding a copy of `data` (copied on the runtime's pool when
    /// large; see the host-copy placement in ARCHITECTURE.md).
    ///
    /// # Errors
    /// [`Error::UnsupportedElement`] for zero-sized `T` or alignment over 16;
    /// [`Error::HostOutOfMemory`] when the host copy cannot be allocated.
    pub fn buffer_from_slice<T: Pod>(&self, data: &[T]) -> Result<Buffer<T>> {
        Buffer::new(Arc::clone(&self.shared), Some(data), data.len())
    }

    /// A buffer of `len` zeroed elements.
    ///
    /// # Errors
    /// As [`buffer_from_slice`](Self::buffer_from_slice).
    pub fn buffer_zeroed<T: Pod>(&self, len: usize) -> Result<Buffer<T>> {
        Buffer::new(Arc::clone(&self.shared), None, len)
    }

    /// Describes a launch of `kernel`; see [`Launch`].
    pub fn launch<'a>(&'a self, kernel: &'a Kernel) -> Launch<'a> {
        Launch::new(&self.shared, kernel, None, None)
    }

    /// Starts a sequence of launches submitted together; see [`Sequence`].
    pub fn sequence(&self) -> Sequence<'_> {
        Sequence::new(&self.shared)
    }

    /// Builds `kernel`'s GPU pipeline now, unless the pipeline cache holds it
    /// already, so that its first launch does not pay for shader compilation
    /// (tens of milliseconds per kernel on most drivers). Returns
    /// [`CacheOutcome::Hit`] when it was cached, [`CacheOutcome::Miss`] when
    /// it was built.
    ///
    /// # Errors
    /// - [`Error::TargetUnavailable`] when there is no usable GPU, the kernel
    ///   has no WGSL, or the adapter lacks a feature the kernel requires.
    /// - [`Error::Gpu`] and the other GPU errors when pipeline creation fails
    ///   (nothing is cached then, and a later call tries again).
    pub fn prepare_gpu(&self, kernel: &Kernel) -> Result<CacheOutcome> {
        crate::launch::prepare_pipeline(&self.shared, kernel)
    }

    /// The adapter in use, if any (also after device loss).
    pub fn gpu_info(&self) -> Option<&GpuInfo> {
        self.shared.gpu().map(|gpu| &gpu.info)
    }

    /// Whether GPU launches are possible now (an adapter is open and not lost).
    pub fn gpu_available(&self) -> bool {
        self.shared.gpu().is_some_and(|gpu| !gpu.is_lost())
    }

    /// Why there is no GPU, when there is none.
    pub fn gpu_unavailable_reason(&self) -> Option<String> {
        match self.shared.gpu() {
            None => Some(self.shared.gpu_absent_reason().to_string()),
            Some(gpu) => gpu.check_healthy().err().map(|e| e.to_string()),
        }
    }

    /// The target of launches that choose none and whose kernel is not
    /// pinned (`SWITCHYARD_TARGET`, or [`RuntimeConfig::default_target`]).
    pub fn default_target(&self) -> Target {
        self.shared.default_target()
    }

    /// The CPU pool's thread count.
    pub fn cpu_threads(&self) -> usize {
        self.shared.cpu().threads()
    }

    /// Bytes moved and transfers avoided so far.
    pub fn transfer_stats(&self) -> TransferStats {
        self.shared.counters.snapshot()
    }

    /// Pipeline cache hits and misses so far.
    pub fn pipeline_stats(&self) -> PipelineCacheStats {
        self.shared.pipelines().stats()
    }

    /// How often launches reused a bind group instead of creating one
    /// (all zero without a GPU).
    pub fn bind_group_stats(&self) -> BindGroupCacheStats {
        self.shared
            .gpu()
            .map(|gpu| gpu.bind_group_stats())
            .unwrap_or_default()
    }

    /// GPU command submissions made so far.
    pub fn submissions(&self) -> u64 {
        self.shared.gpu().map_or(0, |gpu| gpu.submissions())
    }

    /// The GPU buffer pool's footprint.
    pub fn memory_report(&self) -> MemoryReport {
        MemoryReport {
            gpu_pool: self
                .shared
                .gpu()
                .map(|gpu| gpu.pool_stats())
                .unwrap_or_default(),
        }
    }

    /// The limits the device was opened with (the adapter's own; `None`
    /// without a GPU).
    pub fn gpu_limits(&self) -> Option<&wgpu::Limits> {
        self.shared.gpu().map(|gpu| &gpu.limits)
    }

    /// The optional wgpu features the device was opened with (`None` without a GPU).
    pub fn gpu_features(&self) -> Option<wgpu::Features> {
        self.shared.gpu().map(|gpu| gpu.features)
    }

    /// The file the driver pipeline cache persists to, when the adapter has
    /// one and persistence is on.
    pub fn pipeline_cache_path(&self) -> Option<std::path::PathBuf> {
        let cache = self.shared.gpu()?.driver_cache.as_ref()?;
        cache.path().map(std::path::Path::to_path_buf)
    }

    /// Bytes of driver pipeline cache loaded from disk at start.
    pub fn pipeline_cache_loaded_bytes(&self) -> usize {
        self.shared
            .gpu()
            .and_then(|gpu| gpu.driver_cache.as_ref())
            .map_or(0, |cache| cache.loaded_bytes())
    }

    /// Writes the driver pipeline cache to disk now (it is also written when
    /// the runtime is dropped). Returns the bytes written; 0 when the adapter
    /// has no pipeline cache or persistence is off.
    ///
    /// # Errors
    /// [`Error::CacheIo`] naming the file.
    pub fn save_pipeline_cache(&self) -> Result<usize> {
        match self.shared.gpu().and_then(|gpu| gpu.driver_cache.as_ref()) {
            Some(cache) => cache.save(),
            None => Ok(0),
        }
    }

    /// Pins `kernel` (by name) to `target`: its launches that do not call
    /// `.on(...)` go there, whatever the runtime's default. A launch's own
    /// `.on(...)` still wins. `Target::Auto` removes the pin.
    pub fn pin(&self, kernel: &str, target: Target) {
        let mut pins = lock(&self.shared.pins);
        if target == Target::Auto {
            pins.remove(kernel);
        } else {
            pins.insert(kernel.to_string(), target);
        }
    }

    /// What the dispatcher did and learned so far, per kernel; prints as a
    /// table.
    pub fn report(&self) -> DispatchReport {
        let adapter = self.gpu_info().map(|info| info.name.clone());
        DispatchReport::new(adapter, &self.shared.dispatcher())
    }

    /// Writes the learned dispatch model to the cache directory now (it is
    /// also written when the runtime is dropped). Returns the file, or `None`
    /// when persistence is off.
    ///
    /// # Errors
    /// [`Error::CacheIo`] naming the file.
    pub fn save_dispatch_model(&self) -> Result<Option<PathBuf>> {
        self.shared.save_dispatch_model()
    }

    /// The file the learned dispatch model persists to, when persistence is on.
    pub fn dispatch_model_path(&self) -> Option<PathBuf> {
        let dir = self.shared.cache_dir.as_ref()?;
        Some(persist::model_path(dir, &self.shared.machine_identity))
    }

    /// Blocks until all GPU work submitted or recorded so far has finished.
    /// After device loss, unfinished work is re-run on the CPU instead (see
    /// [`Sequence::finish`]).
    ///
    /// # Errors
    /// GPU submission or wait failures; after device loss,
    /// [`Error::DeviceLost`] naming the launches that could not be re-run.
    pub fn synchronize(&self) -> Result<()> {
        let Some(gpu) = self.shared.gpu() else {
            return Ok(());
        };
        let waited = if gpu.is_lost() { Ok(()) } else { gpu.sync() };
        if gpu.is_lost() {
            return crate::launch::settle_device_loss(&self.shared)
                .error()
                .map_or(Ok(()), Err);
        }
        waited
    }

    /// Destroys the GPU device as a driver fault would, so programs can test
    /// their failover: unfinished sequence launches are re-run on the CPU
    /// (see [`Sequence::finish`]), later `Auto` launches run on the CPU,
    /// explicit GPU launches fail with [`Error::DeviceLost`].
    pub fn simulate_device_loss(&self) {
        if let Some(gpu) = self.shared.gpu() {
            gpu.simulate_loss();
            self.shared.pipelines().clear();
        }
    }

    /// Makes the next `allocations` GPU buffer allocations fail as if the
    /// device were out of memory, so programs can test their failover. Each
    /// failed allocation makes the pool free its idle buffers and try once
    /// more; a launch that still gets no memory fails with
    /// [`Error::GpuOutOfMemory`] (explicit GPU) or re-runs on the CPU
    /// (`Auto`, which then prefers the CPU, as after any GPU fault). A no-op
    /// without a GPU.
    pub fn simulate_gpu_out_of_memory(&self, allocations: u64) {
        if let Some(gpu) = self.shared.gpu() {
            gpu.simulate_out_of_memory(allocations);
        }
    }
}
