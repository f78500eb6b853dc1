//! Typed buffers that know where their valid copies are.
//!
//! A [`Buffer<T>`] always owns a host copy and, once a GPU launch has used it,
//! a device copy from the runtime's pool. Its [`Residency`] records which
//! copies hold the latest data, and every launch or host access asks it which
//! transfer, if any, is needed first: a GPU launch uploads only stale data, a
//! host read downloads only stale data.
//!
//! Internally a buffer is a type-erased [`RawBuffer`] so that launches can
//! hold arguments of different element types side by side. The host copy
//! ([`host`]) starts on a cache line, so it can be viewed as any `Pod` type
//! of alignment ≤ [`MAX_ELEMENT_ALIGN`], and large copies are staggered within
//! the page so that CPU loops over two of them do not suffer 4K aliasing.
//!
//! Invariants:
//! - The host copy is never freed, so a host-valid buffer survives device loss.
//! - A device copy goes back to the pool when the buffer is dropped.

pub(crate) mod in_flight;
pub(crate) mod residency;
pub(crate) mod transfer;

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use bytemuck::Pod;

pub use residency::Residency;

use crate::error::{Error, Result};
use crate::handle::RuntimeHandle;
use crate::memory::{self as host, HostBytes};
use crate::sync::lock;
use in_flight::{wait_for_conflicts, InFlight};
use residency::Use;
use transfer::BufferState;

/// The largest element alignment a buffer supports.
pub const MAX_ELEMENT_ALIGN: usize = 16;

/// A buffer without its element type, as launches see it.
pub(crate) struct RawBuffer {
    pub id: u64,
    pub len: usize,
    pub elem_size: usize,
    pub type_name: &'static str,
    pub home: Arc<RuntimeHandle>,
    /// Shared only with the replay log of GPU work not yet known to have
    /// finished (see `launch::replay`), which may have to re-run that work
    /// on the host copy after device loss.
    pub state: Arc<Mutex<BufferState>>,
    /// Submitted CPU launches still using the buffer (see [`in_flight`]).
    pub in_flight: Mutex<InFlight>,
}

impl RawBuffer {
    /// Makes the buffer ready for a use of its contents as `usage` says:
    /// GPU work the device took with it is re-run first, and CPU launches
    /// still running over the buffer that conflict with the use are waited
    /// for. Call it before locking `state`.
    pub fn ready_for(&self, usage: Use) {
        self.home.settle_device_loss();
        wait_for_conflicts(&self.in_flight, usage);
    }

    pub fn byte_len(&self) -> u64 {
        (self.len * self.elem_size) as u64
    }

    /// A copy of the latest contents (downloaded when the GPU holds them).
    ///
    /// # Errors
    /// As [`Buffer::to_vec`].
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let mut out = host::try_zeroed_vec(self.byte_len() as usize, || {
            format!("a copy of a buffer of `{}`", self.type_name)
        })?;
        self.ready_for(Use::Read);
        lock(&self.state).read_latest_into(
            self.home.gpu(),
            &self.home.counters,
            self.home.host_copies(),
            &mut out,
        )?;
        Ok(out)
    }

    /// Replaces the contents with `bytes` (exactly [`byte_len`](Self::byte_len)
    /// of them) on the host; the device copy becomes stale.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.ready_for(Use::Overwrite);
        let mut state = lock(&self.state);
        let host = state.host.bytes_mut();
        if host.len() == bytes.len() {
            host::copy_bytes(self.home.host_copies(), host, bytes);
            state.finish_host(Use::Overwrite);
        }
    }

    /// The state for exclusive use beyond a lock's scope (`host_mut` hands
    /// out a slice of the host copy). The replay log may still hold the
    /// state for GPU work in flight: that work is waited for first (or, if
    /// the device is gone, replayed), after which the log lets go of it.
    fn state_exclusive(&mut self) -> Result<&mut BufferState> {
        wait_for_conflicts(&self.in_flight, Use::ReadWrite);
        if Arc::strong_count(&self.state) > 1 {
            self.home.settle_device_loss();
            if let Some(gpu) = self.home.gpu().filter(|gpu| !gpu.is_lost()) {
                gpu.sync()?;
            }
        }
        let type_name = self.type_name;
        match Arc::get_mut(&mut self.state) {
            Some(state) => Ok(state
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)),
            None => Err(Error::DeviceLost {
                reason: "Unknown".into(),
                message: format!(
                    "a buffer of `{type_name}` is still held by GPU work that neither finished nor could be replayed"
                ),
            }),
        }
    }
}

/// A typed array whose data can live on the host, on the GPU, or both.
///
/// Made by [`Runtime::buffer_from_slice`](crate::Runtime::buffer_from_slice)
/// or [`Runtime::buffer_zeroed`](crate::Runtime::buffer_zeroed). Pass it to a
/// launch with `.read(&buffer)` (the kernel only loads from it) or
/// `.write(&mut buffer)` (the kernel modifies it); read it back with
/// [`to_vec`](Self::to_vec), which downloads only if the GPU holds newer data.
///
/// `Buffer<T>` is `Send + Sync`; launches that write it take `&mut`, so the
/// borrow checker rules out binding one buffer both as input and output.
pub struct Buffer<T: Pod> {
    raw: RawBuffer,
    _element: PhantomData<T>,
}

impl<T: Pod> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("element", &self.raw.type_name)
            .field("len", &self.raw.len)
            .field("residency", &self.residency())
            .finish()
    }
}

impl<T: Pod> Buffer<T> {
    pub(crate) fn new(home: Arc<RuntimeHandle>, data: Option<&[T]>, len: usize) -> Result<Self> {
        let type_name = std::any::type_name::<T>();
        if std::mem::size_of::<T>() == 0 {
            return Err(Error::UnsupportedElement {
                type_name,
                message: "zero-sized elements cannot be stored".into(),
            });
        }
        if std::mem::align_of::<T>() > MAX_ELEMENT_ALIGN {
            return Err(Error::UnsupportedElement {
                type_name,
                message: format!(
                    "alignment {} exceeds the supported {MAX_ELEMENT_ALIGN}",
                    std::mem::align_of::<T>()
                ),
            });
        }
        let id = home.next_buffer_id();
        let host = match data {
            Some(data) => HostBytes::from_bytes(
                bytemuck::cast_slice(data),
                id,
                type_name,
                home.host_copies(),
            )?,
            None => {
                let bytes = len.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| {
                    Error::HostOutOfMemory {
                        purpose: format!("the host copy of a buffer of `{type_name}`"),
                        bytes: u64::MAX,
                    }
                })?;
                HostBytes::zeroed(bytes, id, type_name)?
            }
        };
        Ok(Buffer {
            raw: RawBuffer {
                id,
                len,
                elem_size: std::mem::size_of::<T>(),
                type_name,
                home,
                state: Arc::new(Mutex::new(BufferState::new(host))),
                in_flight: Mutex::default(),
            },
            _element: PhantomData,
        })
    }

    pub(crate) fn raw(&self) -> &RawBuffer {
        &self.raw
    }

    pub(crate) fn raw_mut(&mut self) -> &mut RawBuffer {
        &mut self.raw
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.raw.len
    }

    /// Whether the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.raw.len == 0
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> u64 {
        self.raw.byte_len()
    }

    /// Which copies currently hold the latest data.
    pub fn residency(&self) -> Residency {
        wait_for_conflicts(&self.raw.in_flight, Use::Read);
        lock(&self.raw.state).residency
    }

    /// Uploads the host copy now if the device copy is missing or stale, and
    /// waits until the GPU has it; returns the bytes uploaded (0 when the
    /// device copy was current). Launches upload what they need by
    /// themselves; this takes the upload out of a timed region, or pays it
    /// while the program has nothing else to do. Without a usable GPU
    /// nothing moves and it returns 0.
    ///
    /// # Errors
    /// [`Error::GpuOutOfMemory`](crate::Error::GpuOutOfMemory) when no device buffer can be allocated, and
    /// the submission and wait errors of a launch. The host copy stays valid
    /// on every error.
    pub fn prefetch_to_gpu(&self) -> Result<u64> {
        let home = &self.raw.home;
        let Some(gpu) = home.gpu().filter(|gpu| gpu.check_healthy().is_ok()) else {
            return Ok(0);
        };
        if self.raw.byte_len() == 0 {
            return Ok(0);
        }
        self.raw.ready_for(Use::Read);
        let uploaded = lock(&self.raw.state)
            .prepare_device(gpu, &home.counters, Use::Read)?
            .1;
        if uploaded > 0 {
            gpu.apply_writes_and_wait("prefetch to the GPU")?;
        }
        Ok(uploaded)
    }

    /// Runs `f` on the host copy, downloading first if the GPU holds newer data.
    ///
    /// # Errors
    /// Readback failures (see [`to_vec`](Self::to_vec)).
    pub fn with_host<R>(&self, f: impl FnOnce(&[T]) -> R) -> Result<R> {
        let home = &self.raw.home;
        self.raw.ready_for(Use::Read);
        let mut state = lock(&self.raw.state);
        if state.prepare_host(home.gpu(), &home.counters, Use::Read)? > 0 {
            state.note_host_read_of_gpu_results();
        }
        Ok(f(bytemuck::cast_slice(state.host.bytes())))
    }

    /// The buffer's contents, downloading first if the GPU holds newer data.
    ///
    /// # Errors
    /// [`Error::Map`](crate::Error::Map) or [`Error::Poll`](crate::Error::Poll) when the readback fails;
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) when the only valid copy was on a lost device;
    /// [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) when the vector cannot be allocated.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let mut out = self.zeroed_vec()?;
        self.read_into(&mut out)?;
        Ok(out)
    }

    /// A zeroed vector as long as the buffer, for reading into.
    fn zeroed_vec(&self) -> Result<Vec<T>> {
        host::try_zeroed_vec(self.len(), || {
            format!("reading a buffer of `{}`", self.raw.type_name)
        })
    }

    /// `out.copy_from_slice(host)` for bytes, on the runtime's pool when large.
    fn copy_out(&self, out: &mut [T], host: &[u8]) {
        host::copy_bytes(
            self.raw.home.host_copies(),
            bytemuck::cast_slice_mut(out),
            host,
        );
    }

    /// The buffer's contents, without blocking the calling executor while the
    /// GPU finishes: the readback is submitted, a helper thread waits on the
    /// device, and the returned future is woken when the data is mapped.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec).
    pub async fn read_async(&self) -> Result<Vec<T>> {
        let home = &self.raw.home;
        self.raw.ready_for(Use::Read);
        let (gpu, mut pending) = {
            let mut state = lock(&self.raw.state);
            if matches!(state.residency, Residency::Split { .. }) {
                // Only the device's part of a split buffer is read back:
                // small next to a whole readback, so it is not worth a
                // helper thread.
                state.prepare_host(home.gpu(), &home.counters, Use::Read)?;
            }
            if state.residency.host_valid() {
                let mut out = self.zeroed_vec()?;
                self.copy_out(&mut out, state.host.bytes());
                return Ok(out);
            }
            let (Some(gpu), Some(device)) = (home.gpu(), &state.device) else {
                return Err(transfer::only_copy_lost());
            };
            match gpu.start_download(device.buffer(), 0, state.host.len())? {
                Some(pending) => (Arc::clone(gpu), pending),
                None => return Ok(Vec::new()),
            }
        };
        gpu.poll_in_background(&pending);
        let mapped = (&mut pending.mapped).await;
        let mut out = self.zeroed_vec()?;
        let mut state = lock(&self.raw.state);
        gpu.finish_download(&pending, mapped, bytemuck::cast_slice_mut(&mut out))?;
        home.counters.downloaded(state.host.len() as u64);
        // Only `&self` readers can run meanwhile (writers need `&mut`), so the
        // device copy read here is still the latest one.
        if !state.residency.host_valid() {
            host::copy_bytes(
                home.host_copies(),
                state.host.bytes_mut(),
                bytemuck::cast_slice(&out),
            );
            state.finish_host(Use::Read);
            state.note_host_read_of_gpu_results();
        }
        Ok(out)
    }

    /// Copies the contents into `out`, downloading first if needed.
    ///
    /// Reading GPU results costs one copy out of the mapped readback, as in
    /// hand-written wgpu: the first read after a GPU write fills the host
    /// copy and `out` in one pass; a buffer the host reads after every GPU
    /// write (a simulation's output) is copied into `out` alone, its host
    /// copy left stale, since the next GPU launch would overwrite it anyway
    /// (a second read before that downloads again).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`](crate::Error::LengthMismatch), or as [`to_vec`](Self::to_vec).
    pub fn read_into(&self, out: &mut [T]) -> Result<()> {
        if out.len() != self.len() {
            return Err(Error::LengthMismatch {
                buffer_len: self.len(),
                slice_len: out.len(),
            });
        }
        let home = &self.raw.home;
        self.raw.ready_for(Use::Read);
        lock(&self.raw.state).read_latest_into(
            home.gpu(),
            &home.counters,
            home.host_copies(),
            bytemuck::cast_slice_mut(out),
        )
    }

    /// Copies elements `start..start + out.len()` into `out`.
    ///
    /// Unlike [`read_into`](Self::read_into), only that range moves: when
    /// the GPU holds the latest data, just the range is downloaded and the
    /// host copy stays stale. This is the read for boundary rows, halos and
    /// probes of a field that lives on the GPU.
    ///
    /// # Errors
    /// [`Error::RangeOutOfBounds`](crate::Error::RangeOutOfBounds) when the range reaches past the end (the
    /// buffer and `out` are untouched), or as [`to_vec`](Self::to_vec).
    pub fn read_range_into(&self, start: usize, out: &mut [T]) -> Result<()> {
        let span = self.byte_span(start, start.saturating_add(out.len()))?;
        let home = &self.raw.home;
        self.raw.ready_for(Use::Read);
        lock(&self.raw.state).read_span(
            home.gpu(),
            &home.counters,
            span.start,
            bytemuck::cast_slice_mut(out),
        )
    }

    /// Elements `range`, as [`read_range_into`](Self::read_range_into) reads
    /// them.
    ///
    /// # Errors
    /// As [`read_range_into`](Self::read_range_into), and
    /// [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) when the vector cannot be allocated.
    pub fn read_range(&self, range: std::ops::Range<usize>) -> Result<Vec<T>> {
        self.byte_span(range.start, range.end)?;
        let mut out = host::try_zeroed_vec(range.len(), || {
            format!("reading a range of a buffer of `{}`", self.raw.type_name)
        })?;
        self.read_range_into(range.start, &mut out)?;
        Ok(out)
    }

    /// Replaces elements `start..start + data.len()` with `data`, wherever
    /// the latest data lives: in the host copy when it is current, and in
    /// the device copy when that is current, by uploading just the range.
    /// No whole-buffer transfer happens, so writing halo rows into a field
    /// on the GPU costs the rows only.
    ///
    /// Work already recorded sees the old contents; later launches see the
    /// new. A range written only to the device (the host copy was stale)
    /// cannot be re-run after device loss; the buffer then reports
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) like any GPU result that was never read back.
    ///
    /// # Errors
    /// [`Error::RangeOutOfBounds`](crate::Error::RangeOutOfBounds) when the range reaches past the end;
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) when the only valid copy was on a lost device;
    /// upload and readback errors. The buffer is unchanged on every error
    /// except the last kind, after which its device copy may hold part of
    /// `data`.
    pub fn write_range(&mut self, start: usize, data: &[T]) -> Result<()> {
        let span = self.byte_span(start, start.saturating_add(data.len()))?;
        let home = &self.raw.home;
        self.raw.ready_for(Use::ReadWrite);
        lock(&self.raw.state).write_span(
            home.gpu(),
            &home.counters,
            span.start,
            bytemuck::cast_slice(data),
        )
    }

    /// The bytes of elements `start..end`, or the error naming the range
    /// when it is reversed or not all in the buffer.
    fn byte_span(&self, start: usize, end: usize) -> Result<std::ops::Range<usize>> {
        if end > self.len() || start > end {
            return Err(Error::RangeOutOfBounds {
                type_name: self.raw.type_name,
                buffer_len: self.len(),
                start,
                end,
            });
        }
        Ok(start * self.raw.elem_size..end * self.raw.elem_size)
    }

    /// Replaces the contents with `data` (on the host; the next GPU launch
    /// uploads them).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`](crate::Error::LengthMismatch) when `data.len() != self.len()`; the buffer
    /// is unchanged then.
    pub fn write_from_slice(&mut self, data: &[T]) -> Result<()> {
        if data.len() != self.len() {
            return Err(Error::LengthMismatch {
                buffer_len: self.len(),
                slice_len: data.len(),
            });
        }
        self.raw.ready_for(Use::Overwrite);
        let mut state = lock(&self.raw.state);
        host::copy_bytes(
            self.raw.home.host_copies(),
            state.host.bytes_mut(),
            bytemuck::cast_slice(data),
        );
        state.finish_host(Use::Overwrite);
        Ok(())
    }

    /// The host copy for in-place modification, downloaded first if the GPU
    /// holds newer data. The device copy becomes stale.
    ///
    /// GPU work recorded in a [`Sequence`](crate::Sequence) and not yet
    /// finished keeps a hold on its buffers (to re-run it on the CPU should
    /// the device be lost); if this buffer is one of them, that work is
    /// waited for first.
    ///
    /// # Errors
    /// As [`to_vec`](Self::to_vec), and the submission and wait errors of
    /// that work.
    pub fn host_mut(&mut self) -> Result<&mut [T]> {
        let home = Arc::clone(&self.raw.home);
        let state = self.raw.state_exclusive()?;
        state.prepare_host(home.gpu(), &home.counters, Use::ReadWrite)?;
        state.finish_host(Use::ReadWrite);
        Ok(bytemuck::cast_slice_mut(state.host.bytes_mut()))
    }
}
