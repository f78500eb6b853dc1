//! The crate's one error type.
//!
//! Every fallible public function returns [`Result<T>`]. Variants carry the
//! context a user needs to fix the call without a debugger: the kernel's name,
//! the argument (binding) involved and the sizes that disagreed. Errors from
//! wgpu and naga are kept as the [`std::error::Error::source`] of the variant
//! that wraps them, never flattened into strings where the original type is
//! available.
//!
//! Invariant: producing an error never consumes or corrupts a caller's
//! [`Buffer`](crate::Buffer); every check that can fail runs before any data
//! moves.

use std::fmt;

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which side of a launch an argument was passed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Passed with `.read(&buffer)`: the kernel may only load from it.
    Read,
    /// Passed with `.write(&mut buffer)` or `.overwrite(&mut buffer)`.
    ReadWrite,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read-only",
            Access::ReadWrite => "read_write",
        })
    }
}

/// Everything that can go wrong in switchyard.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The WGSL source did not parse or did not validate.
    #[error("kernel `{kernel}`: invalid WGSL:\n{message}")]
    InvalidShader {
        /// The kernel's name.
        kernel: String,
        /// naga's diagnostic, with the source excerpt, line and column.
        message: String,
    },

    /// The WGSL is valid but the kernel cannot be used as written.
    #[error("kernel `{kernel}`: {message}")]
    UnsupportedKernel {
        /// The kernel's name.
        kernel: String,
        /// What is not supported and why.
        message: String,
    },

    /// A launch passed a different number of arguments than the kernel binds.
    #[error("kernel `{kernel}`: expected {expected} {kind} argument(s), got {given}")]
    ArgumentCount {
        /// The kernel's name.
        kernel: String,
        /// `"buffer"` or `"uniform"`.
        kind: &'static str,
        /// How many bindings of that kind the shader declares.
        expected: usize,
        /// How many the launch passed.
        given: usize,
    },

    /// A buffer was passed with the wrong access for its binding.
    #[error(
        "kernel `{kernel}`: argument {index} (binding @group({group}) @binding({binding}) `{name}`) \
         is declared {declared} in the shader but was passed as {passed}"
    )]
    AccessMismatch {
        /// The kernel's name.
        kernel: String,
        /// Position of the argument among the launch's buffer arguments.
        index: usize,
        /// The binding's group.
        group: u32,
        /// The binding's number.
        binding: u32,
        /// The binding's variable name in the shader.
        name: String,
        /// The access the shader declares.
        declared: Access,
        /// The access the launch used.
        passed: Access,
    },

    /// An argument's element or total size does not fit its binding.
    #[error(
        "kernel `{kernel}`: argument `{name}` (@group({group}) @binding({binding})): {message}"
    )]
    ArgumentSize {
        /// The kernel's name.
        kernel: String,
        /// The binding's variable name in the shader.
        name: String,
        /// The binding's group.
        group: u32,
        /// The binding's number.
        binding: u32,
        /// The sizes that disagree, in words.
        message: String,
    },

    /// A buffer made by one runtime was passed to a launch on another.
    #[error("kernel `{kernel}`: buffer argument {index} belongs to a different Runtime")]
    ForeignBuffer {
        /// The kernel's name.
        kernel: String,
        /// Position of the argument among the launch's buffer arguments.
        index: usize,
    },

    /// A launch asked for zero invocations, or a grid the target cannot run.
    #[error("kernel `{kernel}`: invalid launch size: {message}")]
    LaunchSize {
        /// The kernel's name.
        kernel: String,
        /// What is wrong with the size.
        message: String,
    },

    /// The requested target cannot run this kernel.
    #[error("kernel `{kernel}`: cannot run on the {target}: {reason}")]
    TargetUnavailable {
        /// The kernel's name.
        kernel: String,
        /// The target that was asked for.
        target: crate::target::Target,
        /// Why it cannot run there.
        reason: String,
    },

    /// A CPU twin asked its arguments for something they do not hold.
    #[error("kernel `{kernel}` (CPU twin): {message}")]
    CpuArgument {
        /// The kernel's name.
        kernel: String,
        /// What was asked for and what is there.
        message: String,
    },

    /// A CPU twin panicked; the panic was caught at the pool boundary.
    #[error("kernel `{kernel}` (CPU twin) panicked: {message}")]
    CpuKernelPanicked {
        /// The kernel's name.
        kernel: String,
        /// The panic payload, when it was a string.
        message: String,
    },

    /// A pending launch's result was asked for again after `wait` or the
    /// future had handed it out.
    #[error("kernel `{kernel}`: the result of this pending launch was already taken")]
    LaunchResultTaken {
        /// The kernel's name.
        kernel: String,
    },

    /// A kernel's WGSL on the CPU executor ran past its deadline (set per
    /// launch with [`Launch::deadline`](crate::Launch::deadline) or per
    /// runtime with [`RuntimeConfig::cpu_deadline`](crate::RuntimeConfig::cpu_deadline))
    /// and was stopped; every buffer kept its previous contents.
    #[error("kernel `{kernel}` (WGSL on the CPU) ran past its deadline of {deadline:?} and was stopped; its buffers keep their previous contents")]
    CpuDeadlineExceeded {
        /// The kernel's name.
        kernel: String,
        /// The deadline it had.
        deadline: std::time::Duration,
    },

    /// The element type cannot back a buffer.
    #[error("buffer of `{type_name}`: {message}")]
    UnsupportedElement {
        /// `std::any::type_name` of the element.
        type_name: &'static str,
        /// Why it is refused.
        message: String,
    },

    /// Host memory for a buffer's copy, or for data read out of one, could not
    /// be allocated. Nothing was changed.
    #[error("host out of memory: {bytes} bytes for {purpose}")]
    HostOutOfMemory {
        /// What the memory was for, e.g. "the host copy of a buffer of `f32`".
        purpose: String,
        /// How many bytes the failed allocation asked for.
        bytes: u64,
    },

    /// A host-side copy between a buffer and a slice had mismatched lengths.
    #[error(
        "buffer length mismatch: the buffer holds {buffer_len} elements, the slice {slice_len}"
    )]
    LengthMismatch {
        /// Elements in the buffer.
        buffer_len: usize,
        /// Elements in the slice.
        slice_len: usize,
    },

    /// A ranged read or write reached past the end of a buffer. Nothing was
    /// read or changed.
    #[error(
        "buffer of `{type_name}`: elements {start}..{end} are out of range for a buffer of {buffer_len}"
    )]
    RangeOutOfBounds {
        /// `std::any::type_name` of the element.
        type_name: &'static str,
        /// Elements in the buffer.
        buffer_len: usize,
        /// First element of the range.
        start: usize,
        /// One past the last element of the range (saturated at `usize::MAX`).
        end: usize,
    },

    /// wgpu reported an error while running GPU work.
    #[error("GPU error during {operation}")]
    Gpu {
        /// What switchyard was doing.
        operation: String,
        /// wgpu's own error.
        #[source]
        source: wgpu::Error,
    },

    /// The GPU ran out of memory.
    #[error("GPU out of memory during {operation} ({bytes} bytes requested)")]
    GpuOutOfMemory {
        /// What switchyard was doing.
        operation: String,
        /// How many bytes the failed allocation asked for.
        bytes: u64,
    },

    /// The GPU device was lost; later work runs on the CPU.
    #[error("GPU device lost ({reason}): {message}")]
    DeviceLost {
        /// wgpu's reason, e.g. `Destroyed`.
        reason: String,
        /// The driver's message.
        message: String,
    },

    /// Waiting for the GPU failed (timeout or device loss while polling).
    #[error("waiting for the GPU during {operation} failed")]
    Poll {
        /// What switchyard was waiting for.
        operation: String,
        /// wgpu's own error.
        #[source]
        source: wgpu::PollError,
    },

    /// Mapping a staging buffer for readback failed.
    #[error("mapping a readback buffer failed during {operation}")]
    Map {
        /// What switchyard was reading back.
        operation: String,
        /// wgpu's own error.
        #[source]
        source: wgpu::BufferAsyncError,
    },

    /// No device could be created on the chosen adapter.
    #[error("could not open GPU adapter `{adapter}`")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's own error.
        #[source]
        source: wgpu::RequestDeviceError,
    },

    /// The CPU thread pool could not be built.
    #[error("could not build the CPU thread pool")]
    ThreadPool(#[source] rayon::ThreadPoolBuildError),

    /// A configuration value (environment variable or builder field) is invalid.
    #[error("invalid configuration `{key}` = `{value}`: {message}")]
    Config {
        /// The variable or field name.
        key: String,
        /// The value given.
        value: String,
        /// What values are accepted.
        message: String,
    },

    /// Reading or writing the on-disk cache failed.
    #[error("cache file {path}")]
    CacheIo {
        /// The file involved.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The message of a caught panic: its payload when that is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
