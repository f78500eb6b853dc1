//! Moving a buffer's bytes between host and device, and counting what moved.
//!
//! Every transfer goes through [`BufferState::prepare_device`] or
//! [`BufferState::prepare_host`], which ask the [`Residency`] state machine
//! whether a copy is needed, so a transfer happens only when the destination
//! copy is stale. The runtime-wide [`TransferStats`] count bytes moved and
//! transfers avoided; the tests assert on them.

use std::sync::Arc;
use std::time::Instant;

use super::residency::{Residency, Transfer, Use};
use crate::device::{GpuContext, PoolKind, PooledBuffer, TransferCounters};
use crate::error::{Error, Result};
use crate::memory::HostBytes;

/// `offset` rounded down to the GPU's copy alignment.
fn align_down(offset: usize) -> usize {
    offset - offset % wgpu::COPY_BUFFER_ALIGNMENT as usize
}

/// `offset` rounded up to the GPU's copy alignment.
fn align_up(offset: usize) -> usize {
    offset.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT as usize)
}

/// The error for a buffer whose only valid copy was on a GPU that is gone.
pub(crate) fn only_copy_lost() -> Error {
    Error::DeviceLost {
        reason: "Unknown".into(),
        message: "the buffer's only valid copy was on the GPU".into(),
    }
}

/// The mutable part of a buffer: both copies and which of them is valid.
#[derive(Debug)]
pub(crate) struct BufferState {
    pub host: HostBytes,
    pub device: Option<PooledBuffer>,
    pub residency: Residency,
    /// Whether the host read the GPU's results after its latest writes: the
    /// dispatcher then counts a readback against running the next writer on
    /// the GPU.
    pub host_reads_gpu_results: bool,
    host_read_since_gpu_write: bool,
    gpu_has_written: bool,
    /// How many times the buffer's contents have changed (host writes, CPU
    /// and GPU launches that write it): the version of the latest data.
    pub generation: u64,
    /// The version the host bytes hold; equal to `generation` whenever the
    /// host copy is valid. Replay after device loss (see `launch::replay`)
    /// uses the pair to tell whether a lost GPU launch can be re-run from
    /// the host copy, and to never run one over newer host data.
    pub host_generation: u64,
    /// When the GPU is predicted to finish the latest submitted launch that
    /// writes the buffer (see `Launch::submit`): a CPU launch that must
    /// download it cannot start before. In the past once that is done.
    pub gpu_write_done_at: Option<std::time::Instant>,
}

impl BufferState {
    pub fn new(host: HostBytes) -> Self {
        BufferState {
            host,
            device: None,
            residency: Residency::HostOnly,
            host_reads_gpu_results: false,
            host_read_since_gpu_write: false,
            gpu_has_written: false,
            generation: 0,
            host_generation: 0,
            gpu_write_done_at: None,
        }
    }

    /// Records that a host read (not a CPU launch) had to download.
    pub fn note_host_read_of_gpu_results(&mut self) {
        self.host_read_since_gpu_write = true;
        self.host_reads_gpu_results = true;
    }

    /// Makes the device copy usable as `usage`: allocates it from the pool if
    /// needed and uploads when the state machine says so. Returns the wgpu
    /// buffer and the bytes uploaded. The residency is left unchanged except
    /// for a read, which is final as soon as the upload is queued.
    pub fn prepare_device(
        &mut self,
        gpu: &Arc<GpuContext>,
        counters: &TransferCounters,
        usage: Use,
    ) -> Result<(wgpu::Buffer, u64)> {
        self.prepare_device_from(gpu, counters, usage, 0)
    }

    /// As [`prepare_device`](Self::prepare_device), for a use that writes
    /// only bytes `from..` (the GPU part of a split launch): only stale
    /// bytes from there on are uploaded, and the residency is left to the
    /// launch, which knows what each side wrote. `from` must be a multiple
    /// of 4; a read uploads the whole stale part, whatever `from`.
    ///
    /// # Errors
    /// As [`prepare_device`](Self::prepare_device).
    pub fn prepare_device_from(
        &mut self,
        gpu: &Arc<GpuContext>,
        counters: &TransferCounters,
        usage: Use,
        from: usize,
    ) -> Result<(wgpu::Buffer, u64)> {
        let from = if usage == Use::Read { 0 } else { from };
        let byte_len = self.host.len() as u64;
        if self.device.is_none() {
            self.device = Some(gpu.acquire(PoolKind::Storage, byte_len)?);
        }
        let device = self.device.as_ref().map(PooledBuffer::buffer).cloned();
        let device = device.ok_or_else(|| Error::DeviceLost {
            reason: "Unknown".into(),
            message: "device buffer missing after allocation".into(),
        })?;
        let uploaded = match self.residency.before_gpu(usage) {
            Transfer::Upload => {
                let stale = self.residency.stale_on_device(self.host.len());
                let span = stale.start.max(from)..stale.end;
                if !span.is_empty() {
                    gpu.upload_at(&device, span.start as u64, &self.host.bytes()[span.clone()])?;
                }
                let bytes = span.len() as u64;
                counters.uploaded(bytes);
                bytes
            }
            Transfer::None | Transfer::Download => {
                if usage != Use::Overwrite {
                    counters.upload_avoided();
                }
                0
            }
        };
        if usage == Use::Read {
            self.residency = self.residency.after_gpu(Use::Read);
        }
        Ok((device, uploaded))
    }

    /// Records that the GPU work using this buffer as `usage` was submitted.
    pub fn finish_device(&mut self, usage: Use) {
        self.residency = self.residency.after_gpu(usage);
        if usage != Use::Read {
            self.generation += 1;
            // Two GPU writes with no host read between: the host is not
            // following this buffer's results (any more).
            if self.gpu_has_written {
                self.host_reads_gpu_results = self.host_read_since_gpu_write;
            }
            self.host_read_since_gpu_write = false;
            self.gpu_has_written = true;
        }
    }

    /// Makes the host copy usable as `usage`, downloading when the state
    /// machine says so. Returns the bytes downloaded. A read is final at once;
    /// a write must be followed by [`finish_host`](Self::finish_host).
    ///
    /// # Errors
    /// Readback failures, or [`Error::DeviceLost`](crate::Error::DeviceLost) when the only valid copy
    /// was on a device that is gone.
    pub fn prepare_host(
        &mut self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        usage: Use,
    ) -> Result<u64> {
        self.prepare_host_also(gpu, counters, usage, None)
    }

    /// As [`prepare_host`](Self::prepare_host); when it downloads, `also`
    /// (as long as the buffer) receives the same bytes in the same pass over
    /// the mapped data, so a whole-buffer read costs one copy, not two. When
    /// it returns 0, nothing was downloaded and `also` is untouched.
    ///
    /// # Errors
    /// As [`prepare_host`](Self::prepare_host).
    pub fn prepare_host_also(
        &mut self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        usage: Use,
        also: Option<&mut [u8]>,
    ) -> Result<u64> {
        match self.residency.before_host(usage) {
            Transfer::Download => {
                let (Some(gpu), Some(device)) = (gpu, &self.device) else {
                    return Err(only_copy_lost());
                };
                let started = Instant::now();
                let stale = self.residency.stale_on_host(self.host.len());
                if stale.len() < self.host.len() {
                    // The device's part of a split buffer only.
                    let host = self.host.bytes_mut();
                    gpu.download_at(
                        device.buffer(),
                        stale.start as u64,
                        &mut host[stale.clone()],
                    )?;
                    if let Some(also) = also {
                        also.copy_from_slice(host);
                    }
                } else {
                    match also {
                        Some(also) => {
                            gpu.download_twice(device.buffer(), self.host.bytes_mut(), also)?
                        }
                        None => gpu.download(device.buffer(), self.host.bytes_mut())?,
                    }
                }
                let bytes = stale.len() as u64;
                counters.downloaded(bytes);
                counters.measured_download(bytes, started.elapsed().as_secs_f64());
                self.host_generation = self.generation;
                if usage == Use::Read {
                    self.residency = self.residency.after_host(Use::Read);
                }
                Ok(bytes)
            }
            Transfer::None | Transfer::Upload => {
                if self.residency == Residency::Both && usage != Use::Overwrite {
                    counters.download_avoided();
                }
                Ok(0)
            }
        }
    }

    /// Makes bytes `..until` of the host copy current for `usage`,
    /// downloading only the stale ones there (the CPU part of a split
    /// launch reads no further). The residency is left to the launch,
    /// which sets it when both parts are done. Returns the bytes
    /// downloaded.
    ///
    /// # Errors
    /// As [`prepare_host`](Self::prepare_host).
    pub fn prepare_host_until(
        &mut self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        usage: Use,
        until: usize,
    ) -> Result<u64> {
        if self.residency.before_host(usage) != Transfer::Download {
            return Ok(0);
        }
        let stale = self.residency.stale_on_host(self.host.len());
        let span = stale.start..stale.end.min(until);
        if span.is_empty() {
            counters.download_avoided();
            return Ok(0);
        }
        let (Some(gpu), Some(device)) = (gpu, &self.device) else {
            return Err(only_copy_lost());
        };
        let started = Instant::now();
        let host = self.host.bytes_mut();
        gpu.download_at(device.buffer(), span.start as u64, &mut host[span.clone()])?;
        let bytes = span.len() as u64;
        counters.downloaded(bytes);
        counters.measured_download(bytes, started.elapsed().as_secs_f64());
        Ok(bytes)
    }

    /// Copies the latest data into `out` (as long as the buffer), on `pool`
    /// when large: from the host copy when it is current; else from the
    /// readback, straight into `out` alone when the host reads this
    /// buffer's results after every GPU write (the host copy stays stale;
    /// the next GPU write would make it so anyway), or into the host copy
    /// and `out` in one pass.
    ///
    /// # Errors
    /// As [`prepare_host`](Self::prepare_host).
    pub fn read_latest_into(
        &mut self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        pool: &rayon::ThreadPool,
        out: &mut [u8],
    ) -> Result<()> {
        if self.residency == Residency::DeviceOnly && self.host_reads_gpu_results {
            let (Some(gpu), Some(device)) = (gpu, &self.device) else {
                return Err(only_copy_lost());
            };
            let started = Instant::now();
            gpu.download(device.buffer(), out)?;
            let bytes = out.len() as u64;
            counters.downloaded(bytes);
            counters.measured_download(bytes, started.elapsed().as_secs_f64());
            self.note_host_read_of_gpu_results();
            return Ok(());
        }
        if self.prepare_host_also(gpu, counters, Use::Read, Some(&mut *out))? > 0 {
            self.note_host_read_of_gpu_results();
        } else {
            crate::memory::copy_bytes(pool, out, self.host.bytes());
        }
        Ok(())
    }

    /// Records that the host modified the buffer as `usage`.
    pub fn finish_host(&mut self, usage: Use) {
        self.residency = self.residency.after_host(usage);
        if usage != Use::Read {
            self.generation += 1;
        }
        self.host_generation = self.generation;
    }

    /// Copies bytes `start..start + out.len()` of the latest data into
    /// `out`. When only the device copy is current, just that span is
    /// downloaded (widened to the GPU's 4-byte copy alignment); the host
    /// copy stays stale and the residency is unchanged, so reading a halo
    /// row does not cost a whole readback.
    ///
    /// # Errors
    /// As [`prepare_host`](Self::prepare_host).
    pub fn read_span(
        &self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        start: usize,
        out: &mut [u8],
    ) -> Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let end = start + out.len();
        let host_valid_until = match self.residency {
            Residency::HostOnly | Residency::Both => end,
            Residency::Split { host_below, .. } => host_below,
            Residency::DeviceOnly => 0,
        };
        if end <= host_valid_until {
            out.copy_from_slice(&self.host.bytes()[start..end]);
            return Ok(());
        }
        if start < host_valid_until {
            let (head, tail) = out.split_at_mut(host_valid_until - start);
            head.copy_from_slice(&self.host.bytes()[start..host_valid_until]);
            return self.read_device_span(gpu, counters, host_valid_until, tail);
        }
        self.read_device_span(gpu, counters, start, out)
    }

    /// [`read_span`](Self::read_span) from the device copy.
    fn read_device_span(
        &self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        start: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let (Some(gpu), Some(device)) = (gpu, &self.device) else {
            return Err(only_copy_lost());
        };
        let aligned_start = align_down(start);
        if aligned_start == start {
            gpu.download_at(device.buffer(), start as u64, out)?;
        } else {
            let mut widened = vec![0; start - aligned_start + out.len()];
            gpu.download_at(device.buffer(), aligned_start as u64, &mut widened)?;
            out.copy_from_slice(&widened[start - aligned_start..]);
        }
        counters.downloaded(out.len() as u64);
        Ok(())
    }

    /// Replaces bytes `start..start + data.len()` with `data` in every copy
    /// that holds the latest data: the host copy when it is valid, the
    /// device copy when it is valid (only the span is uploaded). The
    /// residency is unchanged, except that a device copy which cannot be
    /// written any more (the GPU is unhealthy or lost) is dropped from it,
    /// the host copy then being the valid one.
    ///
    /// A span written only to the device (the host copy was stale) cannot be
    /// replayed after device loss: the buffer then reports
    /// [`Error::DeviceLost`](crate::Error::DeviceLost), like any GPU result that was never read back.
    ///
    /// # Errors
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) when the only valid copy was on a device that
    /// is gone (nothing is changed), and the errors of an upload or of the
    /// small download that fills a span not aligned to 4 bytes.
    pub fn write_span(
        &mut self,
        gpu: Option<&Arc<GpuContext>>,
        counters: &TransferCounters,
        start: usize,
        data: &[u8],
    ) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if matches!(self.residency, Residency::Split { .. }) {
            // Whole on the host first: a span is then one write.
            self.prepare_host(gpu, counters, Use::Read)?;
        }
        let end = start + data.len();
        // The span widened to whole 4-byte words, ending at most at the
        // data's end: `upload_at` pads the buffer's last word.
        let aligned = align_down(start)..align_up(end).min(self.host.len());
        let healthy_device = gpu
            .filter(|gpu| gpu.check_healthy().is_ok())
            .zip(self.device.as_ref().map(PooledBuffer::buffer));
        match self.residency {
            // A split buffer was made whole on the host above.
            Residency::HostOnly | Residency::Split { .. } => {
                self.host.bytes_mut()[start..end].copy_from_slice(data)
            }
            Residency::Both => {
                self.host.bytes_mut()[start..end].copy_from_slice(data);
                // The widened span comes from the host copy, now current.
                let uploaded = healthy_device.is_some_and(|(gpu, device)| {
                    gpu.upload_at(
                        device,
                        aligned.start as u64,
                        &self.host.bytes()[aligned.clone()],
                    )
                    .is_ok()
                });
                if uploaded {
                    counters.uploaded(aligned.len() as u64);
                } else {
                    self.residency = Residency::HostOnly;
                }
            }
            Residency::DeviceOnly => {
                let Some((gpu, device)) = healthy_device else {
                    return Err(only_copy_lost());
                };
                if aligned == (start..end) {
                    gpu.upload_at(device, start as u64, data)?;
                } else {
                    // Whole words only: fill the widened span's edges from
                    // the device copy first.
                    let mut widened = vec![0; aligned.len()];
                    gpu.download_at(device, aligned.start as u64, &mut widened)?;
                    widened[start - aligned.start..end - aligned.start].copy_from_slice(data);
                    gpu.upload_at(device, aligned.start as u64, &widened)?;
                }
                counters.uploaded(aligned.len() as u64);
            }
        }
        self.generation += 1;
        if self.residency.host_valid() {
            self.host_generation = self.generation;
        }
        Ok(())
    }

    /// Records that a split launch wrote the buffer, the CPU's part below
    /// byte `host_below` into the host copy, the GPU's from `device_from`
    /// on into the device copy (see `Residency::Split`). Neither copy is
    /// whole, so the host copy's version stays behind: a replay after
    /// device loss never runs over it.
    pub fn finish_split(&mut self, host_below: usize, device_from: usize) {
        self.residency = Residency::Split {
            host_below,
            device_from: device_from.min(host_below),
        };
        self.generation += 1;
    }

    /// Records that a replayed launch brought the host copy to `generation`
    /// (see `launch::replay`); the copy is the valid one again once it has
    /// caught up with the latest data. The lost device copy is dropped.
    pub fn finish_replay(&mut self, generation: u64) {
        self.host_generation = generation;
        if self.host_generation == self.generation {
            self.residency = Residency::HostOnly;
            self.device = None;
        }
    }
}
