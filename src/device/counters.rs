//! Runtime-wide transfer counters: bytes moved between host and device and
//! transfers avoided, counted by the buffer layer at each transfer, read by
//! [`Runtime::transfer_stats`](crate::Runtime::transfer_stats) and by the
//! tests that assert on them. Recent readback timings wait here for the
//! dispatcher to learn from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sync::lock;

/// Runtime-wide transfer counters, as returned by
/// [`Runtime::transfer_stats`](crate::Runtime::transfer_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Bytes copied host → device.
    pub bytes_uploaded: u64,
    /// Bytes copied device → host.
    pub bytes_downloaded: u64,
    /// Host → device copies made.
    pub uploads: u64,
    /// Device → host copies made.
    pub downloads: u64,
    /// GPU uses that found the device copy already valid.
    pub uploads_avoided: u64,
    /// Host uses that found the host copy already valid after GPU work.
    pub downloads_avoided: u64,
}

impl std::ops::Sub for TransferStats {
    type Output = TransferStats;
    fn sub(self, earlier: TransferStats) -> TransferStats {
        TransferStats {
            bytes_uploaded: self.bytes_uploaded - earlier.bytes_uploaded,
            bytes_downloaded: self.bytes_downloaded - earlier.bytes_downloaded,
            uploads: self.uploads - earlier.uploads,
            downloads: self.downloads - earlier.downloads,
            uploads_avoided: self.uploads_avoided - earlier.uploads_avoided,
            downloads_avoided: self.downloads_avoided - earlier.downloads_avoided,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct TransferCounters {
    bytes_uploaded: AtomicU64,
    bytes_downloaded: AtomicU64,
    uploads: AtomicU64,
    downloads: AtomicU64,
    uploads_avoided: AtomicU64,
    downloads_avoided: AtomicU64,
    /// Recent readbacks as `(bytes, seconds)`, for the dispatcher to learn
    /// from at its next decision.
    measured_downloads: Mutex<Vec<(u64, f64)>>,
    /// Whether `measured_downloads` may hold any: read on every decision,
    /// without the lock.
    any_measured: std::sync::atomic::AtomicBool,
}

/// Readbacks kept for the dispatcher between decisions; older ones are dropped.
const MEASURED_DOWNLOADS_KEPT: usize = 64;

impl TransferCounters {
    /// Takes the readback timings measured since the last call.
    pub fn take_measured_downloads(&self) -> Vec<(u64, f64)> {
        // Read first: a swap on every launch would write the flag's cache
        // line even when nothing was measured.
        if !self.any_measured.load(Ordering::Acquire)
            || !self.any_measured.swap(false, Ordering::AcqRel)
        {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.measured_downloads))
    }

    pub fn measured_download(&self, bytes: u64, seconds: f64) {
        let mut measured = lock(&self.measured_downloads);
        if measured.len() < MEASURED_DOWNLOADS_KEPT {
            measured.push((bytes, seconds));
        }
        self.any_measured.store(true, Ordering::Release);
    }

    pub fn snapshot(&self) -> TransferStats {
        TransferStats {
            bytes_uploaded: self.bytes_uploaded.load(Ordering::Relaxed),
            bytes_downloaded: self.bytes_downloaded.load(Ordering::Relaxed),
            uploads: self.uploads.load(Ordering::Relaxed),
            downloads: self.downloads.load(Ordering::Relaxed),
            uploads_avoided: self.uploads_avoided.load(Ordering::Relaxed),
            downloads_avoided: self.downloads_avoided.load(Ordering::Relaxed),
        }
    }

    pub fn uploaded(&self, bytes: u64) {
        self.bytes_uploaded.fetch_add(bytes, Ordering::Relaxed);
        self.uploads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn downloaded(&self, bytes: u64) {
        self.bytes_downloaded.fetch_add(bytes, Ordering::Relaxed);
        self.downloads.fetch_add(1, Ordering::Relaxed);
    }

    /// A GPU use found the device copy already valid.
    pub fn upload_avoided(&self) {
        self.uploads_avoided.fetch_add(1, Ordering::Relaxed);
    }

    /// A host use found the host copy already valid after GPU work.
    pub fn download_avoided(&self) {
        self.downloads_avoided.fetch_add(1, Ordering::Relaxed);
    }
}
