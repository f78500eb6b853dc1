//! The GPU side of the runtime: adapter choice, the wgpu device and its
//! health, with the rooms that serve it.
//!
//! A [`GpuContext`] exists only when an adapter was found and a device opened;
//! a CPU-only runtime simply has none. Every wgpu call that can fail runs inside
//! error scopes ([`GpuContext::scoped`]) or behind our own checks, and the
//! device has an uncaptured-error handler and a device-lost callback
//! installed, so wgpu never panics the caller's process.
//!
//! - `selection`: pure adapter ranking and `SWITCHYARD_BACKEND` parsing.
//! - `pool`: device buffers on loan from a size-class pool.
//! - `queue`: the pending command encoder, submission and waiting, and the
//!   replay log of launches not yet known to have finished.
//! - `transfer`: uploads, readbacks and the transfer probe; `counters`: the
//!   runtime-wide transfer counters.
//! - `bind_groups`, `driver_cache`: reused bind groups, and the driver's
//!   pipeline cache on disk.
//!
//! Invariants:
//! - Queue order is program order (see `queue`), so a pooled buffer may be
//!   reused as soon as the work that used it is submitted.
//! - Once the device is lost, [`GpuContext::check_healthy`] fails forever and
//!   the runtime serves launches on the CPU.
//!
//! This layer knows nothing of buffers, kernels or launches: it moves bytes
//! and records commands for the layers above.

mod bind_groups;
mod counters;
pub(crate) mod driver_cache;
mod pool;
mod queue;
mod selection;
mod transfer;

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use bind_groups::BindGroupCacheStats;
pub(crate) use bind_groups::{BindGroupKey, BoundBuffer};
pub(crate) use counters::TransferCounters;
pub use counters::TransferStats;
pub(crate) use pool::{PoolKind, PooledBuffer};
pub use selection::{AdapterKind, BackendChoice};

use crate::error::{Error, Result};
use crate::memory::SizeClassPool;
use crate::sync::lock;
use bind_groups::{BoundedCache, RecentBindSets, BIND_GROUP_CACHE_ENTRIES};
use driver_cache::DriverPipelineCache;
use queue::Pending;
pub(crate) use queue::Submission;
use selection::Candidate;
pub(crate) use transfer::DeviceSpan;

/// A launch's bind groups, one per group, by pipeline, buffers and uniforms.
type RecentSets = RecentBindSets<wgpu::ComputePipeline, wgpu::Buffer, Arc<[wgpu::BindGroup]>>;

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

/// Device health, shared with wgpu's callbacks.
#[derive(Debug, Default)]
struct Health {
    lost: AtomicBool,
    lost_reason: Mutex<Option<(String, String)>>,
    uncaptured: Mutex<Vec<String>>,
    /// Why a launch failed on this device; `Auto` avoids it from then on.
    unhealthy: Mutex<Option<String>>,
    /// Whether `unhealthy` is set: read on every launch, without the lock.
    any_unhealthy: AtomicBool,
}

impl Health {
    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

/// Distinct uniform values kept as buffers; past this many the cache starts
/// over (a program that changes a uniform every launch gets a new small
/// buffer per launch, which costs no more than writing a pooled one).
const UNIFORM_CACHE_ENTRIES: usize = 256;

/// An open wgpu device with everything the runtime keeps beside it.
pub(crate) struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: GpuInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    health: Arc<Health>,
    pool: Mutex<SizeClassPool<PoolKind, wgpu::Buffer>>,
    /// Work recorded for the GPU and not yet submitted, and the log of
    /// launches not yet known to have finished; see `queue`.
    pending: Mutex<Pending>,
    /// Uniform buffers by content. Each is written once when created and
    /// never again, so one buffer serves every launch with the same
    /// values, recorded, in flight or done: no staging copy and no queue
    /// write per launch.
    uniforms: Mutex<FxHashMap<Box<[u8]>, wgpu::Buffer>>,
    /// Bind groups by layout and bound buffers; see `bind_groups`.
    bind_groups: Mutex<BoundedCache<BindGroupKey, wgpu::BindGroup>>,
    /// The last few launches' sets of bind groups; see `bind_groups`.
    recent_bind_sets: Mutex<RecentSets>,
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
    /// [`Error::RequestDevice`](crate::Error::RequestDevice) when an adapter was found but refused a device.
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
            uniforms: Mutex::new(FxHashMap::default()),
            bind_groups: Mutex::new(BoundedCache::new(BIND_GROUP_CACHE_ENTRIES)),
            recent_bind_sets: Mutex::new(RecentBindSets::new()),
            submissions: AtomicU64::new(0),
            driver_cache,
            host_copies: options.host_copies.clone(),
            allocations_to_fail: AtomicU64::new(0),
        }))
    }

    /// # Errors
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) once the device is gone.
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
        self.health.any_unhealthy.store(true, Ordering::Release);
        first
    }

    /// Why the device was marked unhealthy, if it was.
    pub fn unhealthy_reason(&self) -> Option<String> {
        if !self.health.any_unhealthy.load(Ordering::Acquire) {
            return None;
        }
        lock(&self.health.unhealthy).clone()
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

    /// A uniform buffer holding `bytes` (zero-padded to 16 bytes), shared
    /// by every launch with the same values; see `GpuContext::uniforms`.
    ///
    /// # Errors
    /// [`Error::GpuOutOfMemory`](crate::Error::GpuOutOfMemory) or [`Error::Gpu`](crate::Error::Gpu) when a new buffer cannot
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
    /// [`Error::Gpu`](crate::Error::Gpu) when wgpu rejects the bind group, or device loss.
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

    /// The bind groups of a launch of `pipeline` binding `buffers` (buffer
    /// `i` at `bytes(i)` bytes) and `uniforms`: a recent launch's, if one of
    /// the last few bound the same (see `bind_groups`), else what `build`
    /// makes, remembered for the next one.
    ///
    /// The lock is not held while `build` runs, so other threads' launches
    /// do not wait for bind-group creation.
    ///
    /// # Errors
    /// Whatever `build` returns; nothing is remembered then.
    pub fn recent_bind_set_or(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[wgpu::Buffer],
        bytes: impl Fn(usize) -> u64,
        uniforms: &[Vec<u8>],
        build: impl FnOnce() -> Result<Arc<[wgpu::BindGroup]>>,
    ) -> Result<Arc<[wgpu::BindGroup]>> {
        if let Some(found) = lock(&self.recent_bind_sets).find(pipeline, buffers, &bytes, uniforms)
        {
            return Ok(found);
        }
        let built = build()?;
        lock(&self.recent_bind_sets).remember(
            pipeline.clone(),
            buffers,
            bytes,
            uniforms,
            Arc::clone(&built),
        );
        Ok(built)
    }

    /// Bind-group reuse so far.
    pub fn bind_group_stats(&self) -> BindGroupCacheStats {
        let mut stats = lock(&self.bind_groups).stats();
        stats.hits += lock(&self.recent_bind_sets).hits();
        stats
    }
}
