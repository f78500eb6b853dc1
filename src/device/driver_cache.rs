//! The driver's pipeline cache, kept on disk between runs.
//!
//! On Vulkan, compiling a compute pipeline means running the driver's shader
//! compiler (Mesa's LLVM JIT on lavapipe: tens of milliseconds per kernel).
//! wgpu exposes the driver's own cache as [`wgpu::PipelineCache`]; this module
//! loads it from a file at start and writes it back on request and when the
//! runtime is dropped.
//!
//! The file is a [`cache_file`](crate::cache_file) with magic `SWYDPC01` whose
//! payload is exactly what [`wgpu::PipelineCache::get_data`] returned. wgpu's
//! own header checks the adapter and driver but reserves, and does not check,
//! a hash of the data; our checksum closes that gap, so a truncated or
//! corrupted file is ignored (with a warning) instead of reaching the driver.
//!
//! Invariant: the only `unsafe` code in the crate is [`create_driver_cache`].

use std::path::{Path, PathBuf};

use crate::cache_file::{read_checked, write_checked};
use crate::error::Result;

const MAGIC: &[u8; 8] = b"SWYDPC01";

/// The driver pipeline cache and the file it persists to.
#[derive(Debug)]
pub struct DriverPipelineCache {
    cache: wgpu::PipelineCache,
    path: Option<PathBuf>,
    loaded_bytes: usize,
}

impl DriverPipelineCache {
    /// Opens the cache for this adapter, seeded from its file when the file
    /// exists and is intact. `None` when wgpu has no cache key for the backend.
    pub fn open(
        device: &wgpu::Device,
        adapter: &wgpu::AdapterInfo,
        cache_dir: Option<&Path>,
    ) -> Option<Self> {
        let key = wgpu::util::pipeline_cache_key(adapter)?;
        let path = cache_dir.map(|dir| dir.join(format!("{key}.bin")));
        let data = path
            .as_deref()
            .and_then(|path| read_checked(path, MAGIC, "pipeline cache"));
        let loaded_bytes = data.as_ref().map_or(0, Vec::len);
        let cache = create_driver_cache(device, data.as_deref());
        Some(DriverPipelineCache {
            cache,
            path,
            loaded_bytes,
        })
    }

    /// The cache to pass to pipeline creation.
    pub fn cache(&self) -> &wgpu::PipelineCache {
        &self.cache
    }

    /// Bytes loaded from disk at start (0 when there was no usable file).
    pub fn loaded_bytes(&self) -> usize {
        self.loaded_bytes
    }

    /// The file this cache persists to, if persistence is on.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes the driver's current cache data to its file, atomically
    /// (a temporary file in the same directory, then a rename). Returns the
    /// payload size written, or 0 when there is nothing to write.
    ///
    /// # Errors
    /// [`Error::CacheIo`](crate::Error::CacheIo) naming the file.
    pub fn save(&self) -> Result<usize> {
        let (Some(path), Some(data)) = (&self.path, self.cache.get_data()) else {
            return Ok(0);
        };
        write_checked(path, MAGIC, &data)?;
        Ok(data.len())
    }
}

/// Creates the driver cache, seeded with `data`.
#[allow(unsafe_code)]
fn create_driver_cache(device: &wgpu::Device, data: Option<&[u8]>) -> wgpu::PipelineCache {
    // SAFETY: wgpu requires `data` to have been returned by
    // `PipelineCache::get_data`. It is only ever the payload of a file this
    // module wrote from `get_data`, and `read_checked` hands it over only
    // when its BLAKE3 hash matches the one stored beside it, so the bytes are
    // identical to what wgpu produced. The file is named by
    // `pipeline_cache_key` (vendor, device, driver), and wgpu's own header
    // check drops data from another adapter or driver version. `fallback:
    // true` makes wgpu start an empty cache instead of failing if the driver
    // still rejects the data.
    unsafe {
        device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
            label: Some("switchyard driver pipeline cache"),
            data,
            fallback: true,
        })
    }
}
