//! The [`Runtime`]: one GPU context (or none), one CPU pool, one pipeline
//! cache, and the configuration that ties them together.
//!
//! A runtime owns everything it uses; there are no process-wide globals, and
//! two runtimes in one process share nothing. `Runtime` is a cheap handle
//! (`Clone`, `Send + Sync`) to one `RuntimeShared` (see `shared`); buffers
//! keep only its `RuntimeHandle` part alive.

mod config;

pub use config::RuntimeConfig;

use std::path::PathBuf;
use std::sync::Arc;

use bytemuck::Pod;

use crate::buffer::Buffer;
use crate::cpu::CpuPool;
use crate::device::{BindGroupCacheStats, DeviceOptions, GpuContext, GpuInfo, TransferStats};
use crate::dispatch::{persist, DispatchReport, Dispatcher, Machine, PolicyConfig, Target};
use crate::error::Result;
use crate::handle::RuntimeHandle;
use crate::kernel::Kernel;
use crate::launch::{Launch, Sequence};
use crate::memory::PoolStats;
use crate::pipeline::{CacheOutcome, PipelineCacheStats};
use crate::shared::RuntimeShared;

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
    /// [`Error::Config`](crate::Error::Config) for a malformed `SWITCHYARD_*` variable,
    /// [`Error::RequestDevice`](crate::Error::RequestDevice) when an adapter refuses a device,
    /// [`Error::ThreadPool`](crate::Error::ThreadPool) when the CPU pool cannot start.
    pub fn new() -> Result<Runtime> {
        Runtime::with_config(RuntimeConfig::from_env()?)
    }

    /// A runtime built from `config`.
    ///
    /// # Errors
    /// As [`Runtime::new`], less the environment.
    pub fn with_config(config: RuntimeConfig) -> Result<Runtime> {
        let cpu = CpuPool::new(config.cpu_threads)?.with_executor_deadline(config.cpu_deadline);
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
            shared: Arc::new(RuntimeShared::new(
                RuntimeHandle::new(gpu, cpu.shared()),
                gpu_absent_reason,
                cpu,
                config.default_target,
                dispatcher,
                machine_identity,
                config.cache_dir,
            )),
        })
    }

    /// A buffer holding a copy of `data` (copied on the runtime's pool when
    /// large; see the host-copy placement in ARCHITECTURE.md).
    ///
    /// # Errors
    /// [`Error::UnsupportedElement`](crate::Error::UnsupportedElement) for zero-sized `T` or alignment over 16;
    /// [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) when the host copy cannot be allocated.
    pub fn buffer_from_slice<T: Pod>(&self, data: &[T]) -> Result<Buffer<T>> {
        Buffer::new(Arc::clone(self.shared.handle()), Some(data), data.len())
    }

    /// A buffer of `len` zeroed elements.
    ///
    /// # Errors
    /// As [`buffer_from_slice`](Self::buffer_from_slice).
    pub fn buffer_zeroed<T: Pod>(&self, len: usize) -> Result<Buffer<T>> {
        Buffer::new(Arc::clone(self.shared.handle()), None, len)
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
    /// - [`Error::TargetUnavailable`](crate::Error::TargetUnavailable) when there is no usable GPU, the kernel
    ///   has no WGSL, or the adapter lacks a feature the kernel requires.
    /// - [`Error::Gpu`](crate::Error::Gpu) and the other GPU errors when pipeline creation fails
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
        self.shared.counters().snapshot()
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
    /// [`Error::CacheIo`](crate::Error::CacheIo) naming the file.
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
        self.shared.pin(kernel, target);
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
    /// [`Error::CacheIo`](crate::Error::CacheIo) naming the file.
    pub fn save_dispatch_model(&self) -> Result<Option<PathBuf>> {
        self.shared.save_dispatch_model()
    }

    /// The file the learned dispatch model persists to, when persistence is on.
    pub fn dispatch_model_path(&self) -> Option<PathBuf> {
        self.shared.dispatch_model_path()
    }

    /// Blocks until all GPU work submitted or recorded so far has finished.
    /// After device loss, unfinished work is re-run on the CPU instead (see
    /// [`Sequence::finish`]).
    ///
    /// # Errors
    /// GPU submission or wait failures; after device loss,
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) naming the launches that could not be re-run.
    pub fn synchronize(&self) -> Result<()> {
        let Some(gpu) = self.shared.gpu() else {
            return Ok(());
        };
        let waited = if gpu.is_lost() { Ok(()) } else { gpu.sync() };
        if gpu.is_lost() {
            return self
                .shared
                .handle()
                .settle_device_loss()
                .error()
                .map_or(Ok(()), Err);
        }
        waited
    }

    /// Destroys the GPU device as a driver fault would, so programs can test
    /// their failover: unfinished sequence launches are re-run on the CPU
    /// (see [`Sequence::finish`]), later `Auto` launches run on the CPU,
    /// explicit GPU launches fail with [`Error::DeviceLost`](crate::Error::DeviceLost).
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
    /// [`Error::GpuOutOfMemory`](crate::Error::GpuOutOfMemory) (explicit GPU) or re-runs on the CPU
    /// (`Auto`, which then prefers the CPU, as after any GPU fault). A no-op
    /// without a GPU.
    pub fn simulate_gpu_out_of_memory(&self, allocations: u64) {
        if let Some(gpu) = self.shared.gpu() {
            gpu.simulate_out_of_memory(allocations);
        }
    }
}
