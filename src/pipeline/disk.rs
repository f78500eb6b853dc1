//! The driver's pipeline cache, kept on disk between runs.
//!
//! On Vulkan, compiling a compute pipeline means running the driver's shader
//! compiler (Mesa's LLVM JIT on lavapipe: tens of milliseconds per kernel).
//! wgpu exposes the driver's own cache as [`wgpu::PipelineCache`]; this module
//! loads it from a file at start and writes it back on request and when the
//! runtime is dropped.
//!
//! File format: `SWYDPC01`, then the BLAKE3 hash of the payload, then the
//! payload exactly as [`wgpu::PipelineCache::get_data`] returned it. wgpu's
//! own header checks the adapter and driver but reserves, and does not check,
//! a hash of the data; ours closes that gap, so a truncated or corrupted file
//! is ignored (with a warning) instead of reaching the driver.
//!
//! Invariant: the only `unsafe` code in the crate is [`create_driver_cache`].

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SWYDPC01";
const HASH_LEN: usize = 32;

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
        let data = path.as_deref().and_then(read_cache_file);
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
    /// [`Error::CacheIo`] naming the file.
    pub fn save(&self) -> Result<usize> {
        let (Some(path), Some(data)) = (&self.path, self.cache.get_data()) else {
            return Ok(0);
        };
        write_cache_file(path, &data)?;
        Ok(data.len())
    }
}

/// Creates the driver cache, seeded with `data`.
#[allow(unsafe_code)]
fn create_driver_cache(device: &wgpu::Device, data: Option<&[u8]>) -> wgpu::PipelineCache {
    // SAFETY: wgpu requires `data` to have been returned by
    // `PipelineCache::get_data`. It is only ever the payload of a file this
    // module wrote from `get_data`, and `read_cache_file` hands it over only
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

/// The verified payload of a cache file, or `None` (with a warning for a
/// damaged file; silently for a missing one).
fn read_cache_file(path: &Path) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!(
                "switchyard: ignoring pipeline cache {}: {e}",
                path.display()
            );
            return None;
        }
    };
    match verify(&bytes) {
        Some(payload) => Some(payload.to_vec()),
        None => {
            log::warn!(
                "switchyard: ignoring damaged pipeline cache {} ({} bytes)",
                path.display(),
                bytes.len()
            );
            None
        }
    }
}

fn verify(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < HASH_LEN {
        return None;
    }
    let (hash, payload) = rest.split_at(HASH_LEN);
    (blake3::hash(payload).as_bytes() == hash).then_some(payload)
}

fn encode(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(MAGIC.len() + HASH_LEN + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(blake3::hash(payload).as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn write_cache_file(path: &Path, payload: &[u8]) -> Result<()> {
    let io_error = |source| Error::CacheIo {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error)?;
    }
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, encode(payload)).map_err(io_error)?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io_error(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-disk-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trip_returns_the_exact_payload() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("k.bin");
        let payload: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        write_cache_file(&path, &payload).unwrap();
        assert_eq!(read_cache_file(&path).unwrap(), payload);
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file was renamed away");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn damaged_or_foreign_files_are_ignored() {
        let dir = temp_dir("damaged");
        let path = dir.join("k.bin");
        write_cache_file(&path, b"driver data").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read_cache_file(&path), None, "flipped bit");
        std::fs::write(&path, &bytes[..20]).unwrap();
        assert_eq!(read_cache_file(&path), None, "truncated");
        std::fs::write(&path, b"not ours at all").unwrap();
        assert_eq!(read_cache_file(&path), None, "foreign");
        assert_eq!(read_cache_file(&dir.join("missing.bin")), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
