//! [`RuntimeConfig`]: how to build a runtime, from the environment and
//! builder calls.

use std::path::PathBuf;

use crate::device::BackendChoice;
use crate::dispatch::Target;
use crate::error::{Error, Result};

/// Default idle bytes the buffer pool keeps for reuse.
const DEFAULT_POOL_IDLE_LIMIT: u64 = 256 << 20;

/// How to build a [`Runtime`](crate::Runtime).
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
    pub(super) backend: BackendChoice,
    pub(super) adapter_name: Option<String>,
    pub(super) cpu_threads: usize,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) pool_idle_limit_bytes: u64,
    pub(super) default_target: Target,
    pub(super) cpu_deadline: Option<std::time::Duration>,
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
            cpu_deadline: None,
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
    /// [`Error::Config`](crate::Error::Config) naming the variable whose value is not understood.
    pub fn from_env() -> Result<Self> {
        RuntimeConfig::from_lookup(env_var)
    }

    /// As [`from_env`](Self::from_env), reading variables through `lookup`
    /// (empty values count as unset).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming the variable whose value is not understood.
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
    /// not [pinned](crate::Runtime::pin).
    pub fn default_target(mut self, target: Target) -> Self {
        self.default_target = target;
        self
    }

    /// How long a kernel's WGSL may run on the CPU executor before it is
    /// stopped with [`Error::CpuDeadlineExceeded`](crate::Error::CpuDeadlineExceeded),
    /// its buffers left as they were: what a GPU driver's watchdog does for
    /// a shader that loops forever. `None` (the default) waits however long
    /// it takes; a launch's own [`deadline`](crate::Launch::deadline) wins.
    /// Rust twins are not stopped (they are ordinary code).
    ///
    /// With a deadline, written buffers are run on a copy that replaces the
    /// buffer only when the launch finishes in time: one extra copy of each.
    pub fn cpu_deadline(mut self, deadline: Option<std::time::Duration>) -> Self {
        self.cpu_deadline = deadline;
        self
    }
}
