//! Moving bytes between host memory and device buffers.
//!
//! Uploads go through `queue.write_buffer` (large ones fill wgpu's staging
//! memory from the runtime's pool); readbacks copy into a pooled `MAP_READ`
//! staging buffer, map it and copy out. [`GpuContext::probe_transfers`]
//! measures both, for the dispatcher's transfer model.
//!
//! Invariant: an upload submits recorded work first, so a queue write can
//! never overtake a recorded kernel that reads the old contents.

use std::sync::Arc;
use std::time::Instant;

use super::{GpuContext, PoolKind, PooledBuffer};
use crate::error::{Error, Result};
use crate::memory::{copy_bytes, copy_bytes_twice, COPY_CHUNK_BYTES, PARALLEL_COPY_MIN_BYTES};

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

/// Bytes `offset..offset + out.len()` of a device buffer, and where
/// [`GpuContext::download_spans_here`] puts them.
pub(crate) struct DeviceSpan<'a> {
    pub source: &'a wgpu::Buffer,
    pub offset: u64,
    pub out: &'a mut [u8],
}

/// Measured transfer times, `(bytes, seconds)`, from
/// [`GpuContext::probe_transfers`].
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TransferProbe {
    pub uploads: Vec<(u64, f64)>,
    pub downloads: Vec<(u64, f64)>,
}

impl GpuContext {
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
    /// [`Error::Map`](crate::Error::Map), [`Error::Poll`](crate::Error::Poll), device loss, or a staging allocation failure.
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
        self.download_to(source, offset, out, None)
    }

    /// [`download`](Self::download) into two destinations of the same
    /// length at once (a buffer's host copy and the caller's memory): the
    /// mapped data is read once (see `memory::copy_bytes_twice`).
    ///
    /// # Errors
    /// As [`download`](Self::download).
    pub fn download_twice(
        self: &Arc<Self>,
        source: &wgpu::Buffer,
        first: &mut [u8],
        second: &mut [u8],
    ) -> Result<()> {
        self.download_to(source, 0, first, Some(second))
    }

    fn download_to(
        self: &Arc<Self>,
        source: &wgpu::Buffer,
        offset: u64,
        out: &mut [u8],
        also: Option<&mut [u8]>,
    ) -> Result<()> {
        let Some(mut pending) = self.start_download(source, offset, out.len())? else {
            return Ok(());
        };
        self.wait(pending.submission.clone(), "readback")?;
        // The wait ran the map callback, so this resolves at once.
        let mapped = futures::executor::block_on(&mut pending.mapped);
        self.finish_download_to(&pending, mapped, out, also)
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
        self.finish_download_to(pending, mapped, out, None)
    }

    /// [`finish_download`](Self::finish_download), also into `also` (of the
    /// same length) when given.
    fn finish_download_to(
        &self,
        pending: &PendingDownload,
        mapped: std::result::Result<MapResult, futures::channel::oneshot::Canceled>,
        out: &mut [u8],
        also: Option<&mut [u8]>,
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
            match (&self.host_copies, also) {
                (Some(pool), None) => copy_bytes(pool, out, data),
                (Some(pool), Some(also)) => copy_bytes_twice(pool, out, also, data),
                (None, None) => out.copy_from_slice(data),
                (None, Some(also)) => {
                    out.copy_from_slice(data);
                    also.copy_from_slice(data);
                }
            }
        }
        buffer.unmap();
        Ok(())
    }

    /// Reads several spans of device buffers into host memory, all or
    /// nothing: every copy is submitted and mapped before any byte of
    /// `spans` changes, so an error leaves all of them as they were. The
    /// mapped bytes are copied on the calling thread, not on the runtime's
    /// pool: the caller is the GPU side of a split launch, running beside
    /// the pool's part. Returns the bytes read.
    ///
    /// # Errors
    /// [`Error::Map`](crate::Error::Map), [`Error::Poll`](crate::Error::Poll),
    /// device loss, or a staging allocation failure; `spans` are then
    /// unchanged.
    pub fn download_spans_here(self: &Arc<Self>, spans: &mut [DeviceSpan<'_>]) -> Result<u64> {
        let mut pending = Vec::with_capacity(spans.len());
        for span in spans.iter() {
            pending.push(self.start_download(span.source, span.offset, span.out.len())?);
        }
        let last = pending
            .iter()
            .flatten()
            .filter_map(|download| download.submission.clone())
            .next_back();
        if pending.iter().any(Option::is_some) {
            self.wait(last, "split readback")?;
        }
        for download in pending.iter_mut().flatten() {
            // The wait ran every map callback, so these resolve at once.
            futures::executor::block_on(&mut download.mapped)
                .map_err(|_| Error::DeviceLost {
                    reason: "Unknown".into(),
                    message: "the readback callback never ran".into(),
                })?
                .map_err(|source| Error::Map {
                    operation: "split readback".into(),
                    source,
                })?;
        }
        self.check_healthy()?;
        let mut total = 0;
        for (span, download) in spans.iter_mut().zip(&pending) {
            let Some(download) = download else { continue };
            let buffer = download.staging.buffer();
            {
                let view =
                    buffer
                        .get_mapped_range(0..download.len)
                        .map_err(|_| Error::DeviceLost {
                            reason: "Unknown".into(),
                            message: "mapped range unavailable after a successful map".into(),
                        })?;
                span.out.copy_from_slice(&view[..span.out.len()]);
            }
            buffer.unmap();
            total += span.out.len() as u64;
        }
        Ok(total)
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
}
