//! The twin's view of a launch: its arguments as typed host slices.
//!
//! A Rust twin receives [`CpuArgs`]: the launch's buffers, numbered like the
//! shader's storage bindings in `(group, binding)` order, and its uniforms
//! likewise. Each argument is checked when the twin asks for it (element
//! type, read or write), so a twin written against the wrong signature gets
//! [`Error::CpuArgument`](crate::Error::CpuArgument) naming the kernel and the argument, never a panic
//! or a misread.
//!
//! Invariant: an output slice is handed out at most once per launch, so two
//! `&mut` views of one buffer cannot exist.

use bytemuck::Pod;

use crate::error::{Error, Result};

/// The signature of a CPU twin.
pub type CpuTwin = dyn Fn(&mut CpuArgs<'_>) -> Result<()> + Send + Sync;

/// One buffer argument as the twin sees it.
pub(crate) enum CpuSlot<'a> {
    Read(&'a [u8]),
    Write(Option<&'a mut [u8]>),
}

/// The arguments of a launch, as host slices, for a kernel's Rust twin.
///
/// Buffers are numbered like the shader's storage bindings; see the
/// [kernel docs](crate::Kernel). Each output can be taken once per launch.
pub struct CpuArgs<'a> {
    kernel: &'a str,
    buffers: Vec<CpuSlot<'a>>,
    uniforms: Vec<&'a [u8]>,
    invocations: [u32; 3],
    pool: &'a rayon::ThreadPool,
}

impl<'a> CpuArgs<'a> {
    pub(crate) fn new(
        kernel: &'a str,
        buffers: Vec<CpuSlot<'a>>,
        uniforms: Vec<&'a [u8]>,
        invocations: [u32; 3],
        pool: &'a rayon::ThreadPool,
    ) -> Self {
        CpuArgs {
            kernel,
            buffers,
            uniforms,
            invocations,
            pool,
        }
    }

    fn error(&self, message: String) -> Error {
        Error::CpuArgument {
            kernel: self.kernel.into(),
            message,
        }
    }

    fn cast<T: Pod>(&self, index: usize, bytes: &'a [u8]) -> Result<&'a [T]> {
        bytemuck::try_cast_slice(bytes).map_err(|e| {
            self.error(format!(
                "buffer argument {index} ({} bytes) cannot be viewed as `{}`: {e}",
                bytes.len(),
                std::any::type_name::<T>()
            ))
        })
    }

    /// The read-only buffer argument `index`, as `&[T]`.
    ///
    /// # Errors
    /// [`Error::CpuArgument`](crate::Error::CpuArgument) when there is no such argument, it was passed for
    /// writing, or its bytes are not a whole number of `T`.
    pub fn input<T: Pod>(&self, index: usize) -> Result<&'a [T]> {
        match self.buffers.get(index) {
            Some(CpuSlot::Read(bytes)) => self.cast(index, bytes),
            Some(CpuSlot::Write(_)) => Err(self.error(format!(
                "buffer argument {index} was passed for writing; use `output({index})`"
            ))),
            None => Err(self.error(format!(
                "asked for buffer argument {index}, but the launch has {}",
                self.buffers.len()
            ))),
        }
    }

    /// The written buffer argument `index`, as `&mut [T]`. It holds the
    /// buffer's current contents (except after `.overwrite`, where they are
    /// unspecified). Can be taken once.
    ///
    /// # Errors
    /// [`Error::CpuArgument`](crate::Error::CpuArgument) when there is no such argument, it was passed
    /// read-only, it was already taken, or its bytes are not a whole number of `T`.
    pub fn output<T: Pod>(&mut self, index: usize) -> Result<&'a mut [T]> {
        let count = self.buffers.len();
        let slot = match self.buffers.get_mut(index) {
            Some(CpuSlot::Write(slot)) => slot.take(),
            Some(CpuSlot::Read(_)) => {
                return Err(self.error(format!(
                    "buffer argument {index} was passed read-only; use `input({index})`"
                )))
            }
            None => {
                return Err(self.error(format!(
                    "asked for buffer argument {index}, but the launch has {count}"
                )))
            }
        };
        let bytes = slot.ok_or_else(|| self.error(format!("output {index} was already taken")))?;
        let len = bytes.len();
        bytemuck::try_cast_slice_mut(bytes).map_err(|e| {
            self.error(format!(
                "buffer argument {index} ({len} bytes) cannot be viewed as `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// Uniform `index`, read as a `P` (a copy; uniforms are small).
    ///
    /// # Errors
    /// [`Error::CpuArgument`](crate::Error::CpuArgument) when there is no such uniform or its size is not
    /// `size_of::<P>()`.
    pub fn uniform<P: Pod>(&self, index: usize) -> Result<P> {
        let bytes = self.uniforms.get(index).ok_or_else(|| {
            self.error(format!(
                "asked for uniform {index}, but the launch has {}",
                self.uniforms.len()
            ))
        })?;
        bytemuck::try_pod_read_unaligned(bytes).map_err(|_| {
            self.error(format!(
                "uniform {index} has {} bytes, `{}` has {}",
                bytes.len(),
                std::any::type_name::<P>(),
                std::mem::size_of::<P>()
            ))
        })
    }

    /// The launch's global size `[x, y, z]`.
    pub fn invocations(&self) -> [u32; 3] {
        self.invocations
    }

    /// The runtime's thread pool. The twin already runs inside it (unless the
    /// launch is below the kernel's [`Kernel::serial_below`](crate::Kernel::serial_below)), so rayon's
    /// parallel iterators use it without this; it is here for `scope`/`join`
    /// and for sizing work by `current_num_threads`.
    pub fn pool(&self) -> &'a rayon::ThreadPool {
        self.pool
    }

    /// The kernel's name.
    pub fn kernel_name(&self) -> &str {
        self.kernel
    }
}
