//! A kernel: one computation with a WGSL implementation, a Rust twin, or both.
//!
//! [`Kernel::wgsl`] parses and validates the shader immediately, so a typo
//! fails where the kernel is defined, with naga's line and column, not at the
//! first launch. The Rust twin is a closure that receives the same arguments as
//! host slices through [`CpuArgs`] and runs inside the runtime's rayon pool.
//!
//! Argument order is shared by both implementations: buffer arguments are
//! numbered by the shader's storage bindings in `(group, binding)` order, and
//! uniforms by its uniform bindings in the same order. `args.input(0)` in the
//! twin is the buffer bound to the first storage binding.
//!
//! A `Kernel` is cheap to clone (an `Arc`) and `Send + Sync`.

use std::sync::{Arc, OnceLock};

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::pipeline::reflect::{reflect, KernelLayout};
use crate::pipeline::{split, BindingInfo, BindingKind, BindingShape};

/// The signature of a CPU twin.
pub type CpuTwin = dyn Fn(&mut CpuArgs<'_>) -> Result<()> + Send + Sync;

/// The signature of a kernel's work measure: the launch's global size in,
/// the amount of work the dispatcher should scale its predictions by out.
pub type WorkMeasure = dyn Fn([u32; 3]) -> u64 + Send + Sync;

/// The GPU half of a kernel: validated WGSL and its reflected layout.
#[derive(Clone, Debug)]
pub(crate) struct WgslKernel {
    pub name: String,
    pub entry_point: String,
    pub module: Arc<naga::Module>,
    pub layout: KernelLayout,
    /// `layout.buffers`' names, shared with the explanations that name them.
    pub argument_names: Arc<[String]>,
    pub constants: Vec<(String, f64)>,
    /// BLAKE3 of source, entry point and constants.
    pub content_hash: blake3::Hash,
    source: Arc<str>,
    /// The variant for grids over the dispatch limit (see
    /// `pipeline::split`), made on first need.
    grid_offset_variant: Arc<OnceLock<std::result::Result<Arc<WgslKernel>, String>>>,
}

impl WgslKernel {
    fn rehash(&mut self) {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.source.as_bytes());
        hasher.update(&[0]);
        hasher.update(self.entry_point.as_bytes());
        for (name, value) in &self.constants {
            hasher.update(&[0]);
            hasher.update(name.as_bytes());
            hasher.update(&value.to_le_bytes());
        }
        self.content_hash = hasher.finalize();
        self.grid_offset_variant = Arc::default();
    }

    /// This kernel with its entry point wrapped to take a grid offset, for
    /// launches split into several dispatches (see `pipeline::split`): the
    /// offset uniform is bound at `@group(n) @binding(0)`, `n` the first
    /// group the kernel does not use, and comes after the kernel's own
    /// uniforms in the layout.
    ///
    /// # Errors
    /// Why the variant cannot be made.
    pub fn grid_offset_variant(&self) -> std::result::Result<&Arc<WgslKernel>, &str> {
        self.grid_offset_variant
            .get_or_init(|| {
                let group = self.layout.group_count();
                let module = split::with_grid_offset(&self.module, &self.entry_point, group)?;
                let mut layout = self.layout.clone();
                layout.uniforms.push(BindingInfo {
                    group,
                    binding: 0,
                    name: split::GRID_OFFSET_NAME.into(),
                    kind: BindingKind::Uniform,
                    shape: BindingShape::Sized {
                        bytes: split::GRID_OFFSET_BYTES,
                    },
                });
                let mut hasher = blake3::Hasher::new();
                hasher.update(self.content_hash.as_bytes());
                hasher.update(b"grid offset variant");
                Ok(Arc::new(WgslKernel {
                    module: Arc::new(module),
                    layout,
                    content_hash: hasher.finalize(),
                    grid_offset_variant: Arc::default(),
                    ..self.clone()
                }))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

#[derive(Clone)]
struct KernelInner {
    name: String,
    wgsl: Option<WgslKernel>,
    twin: Option<Arc<CpuTwin>>,
    work_measure: Option<Arc<WorkMeasure>>,
    /// Features declared with [`Kernel::requires`], beyond those detected.
    declared_features: wgpu::Features,
    /// Launches with fewer invocations run the twin on the calling thread
    /// ([`Kernel::serial_below`]); 0 = never.
    serial_below: u64,
    /// See [`Kernel::elementwise`].
    elementwise: bool,
    /// See [`Kernel::dispatch_key`]; derived from `name` and `wgsl`, and
    /// rebuilt whenever they change.
    dispatch_key: String,
}

impl KernelInner {
    fn derive_dispatch_key(&mut self) {
        self.dispatch_key = match &self.wgsl {
            Some(wgsl) => format!("{}#{}", self.name, &wgsl.content_hash.to_hex()[..12]),
            None => format!("{}#cpu", self.name),
        };
    }
}

/// A compute kernel that switchyard can launch on the GPU, the CPU, or both.
///
/// # Examples
/// ```
/// use switchyard::{Kernel, Result};
///
/// # fn main() -> Result<()> {
/// let double = Kernel::wgsl(
///     "double",
///     r#"
///     @group(0) @binding(0) var<storage, read_write> v: array<f32>;
///     @compute @workgroup_size(64)
///     fn main(@builtin(global_invocation_id) id: vec3<u32>) {
///         if id.x < arrayLength(&v) { v[id.x] = 2.0 * v[id.x]; }
///     }"#,
///     "main",
/// )?
/// .cpu(|args| {
///     for x in args.output::<f32>(0)? {
///         *x *= 2.0;
///     }
///     Ok(())
/// });
/// assert!(double.has_gpu() && double.has_cpu());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Kernel {
    inner: Arc<KernelInner>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("name", &self.inner.name)
            .field("gpu", &self.has_gpu())
            .field("cpu", &self.has_cpu())
            .finish()
    }
}

impl Kernel {
    /// A kernel from WGSL `source`, launched at `entry_point`.
    ///
    /// # Errors
    /// [`Error::InvalidShader`] (naga's message with line and column) when the
    /// source does not parse or validate; [`Error::UnsupportedKernel`] when the
    /// entry point is missing or not `@compute`, or binds textures.
    pub fn wgsl(
        name: impl Into<String>,
        source: impl Into<Arc<str>>,
        entry_point: &str,
    ) -> Result<Kernel> {
        let name = name.into();
        let source: Arc<str> = source.into();
        let (module, layout) = reflect(&name, &source, entry_point)?;
        let mut wgsl = WgslKernel {
            name: name.clone(),
            entry_point: entry_point.into(),
            module: Arc::new(module),
            argument_names: layout.buffers.iter().map(|b| b.name.clone()).collect(),
            layout,
            constants: Vec::new(),
            content_hash: blake3::hash(b""),
            source,
            grid_offset_variant: Arc::default(),
        };
        wgsl.rehash();
        let mut inner = KernelInner {
            name,
            wgsl: Some(wgsl),
            twin: None,
            work_measure: None,
            declared_features: wgpu::Features::empty(),
            serial_below: 0,
            elementwise: false,
            dispatch_key: String::new(),
        };
        inner.derive_dispatch_key();
        Ok(Kernel {
            inner: Arc::new(inner),
        })
    }

    /// A kernel with only a Rust implementation; it always runs on the CPU pool.
    pub fn cpu_only(
        name: impl Into<String>,
        twin: impl Fn(&mut CpuArgs<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Kernel {
        let mut inner = KernelInner {
            name: name.into(),
            wgsl: None,
            twin: Some(Arc::new(twin)),
            work_measure: None,
            declared_features: wgpu::Features::empty(),
            serial_below: 0,
            elementwise: false,
            dispatch_key: String::new(),
        };
        inner.derive_dispatch_key();
        Kernel {
            inner: Arc::new(inner),
        }
    }

    /// Adds (or replaces) the Rust twin that runs this kernel on the CPU pool.
    pub fn cpu(
        self,
        twin: impl Fn(&mut CpuArgs<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Kernel {
        self.map_inner(|inner| inner.twin = Some(Arc::new(twin)))
    }

    /// Sets a WGSL `override` constant. Part of the pipeline cache key.
    pub fn constant(self, name: impl Into<String>, value: f64) -> Kernel {
        let name = name.into();
        self.map_inner(|inner| {
            if let Some(wgsl) = &mut inner.wgsl {
                wgsl.constants.retain(|(n, _)| *n != name);
                wgsl.constants.push((name, value));
                wgsl.constants.sort_by(|a, b| a.0.cmp(&b.0));
                wgsl.rehash();
            }
        })
    }

    /// Declares how much work a launch does, for the dispatcher's cost model,
    /// when it is not proportional to the invocation count. All-pairs N-body
    /// does `n²` interactions for `n` invocations: `.work_size(|[n, _, _]|
    /// u64::from(n).pow(2))`. A launch's [`work`](crate::Launch::work)
    /// overrides it.
    pub fn work_size(self, measure: impl Fn([u32; 3]) -> u64 + Send + Sync + 'static) -> Kernel {
        self.map_inner(|inner| inner.work_measure = Some(Arc::new(measure)))
    }

    /// Declares device features the GPU must have to run this kernel, beyond
    /// those detected from the shader (64-bit and 16-bit types, subgroups are
    /// detected). On a GPU that lacks one, `Auto` runs the kernel on the CPU
    /// and explicit GPU launches fail with
    /// [`Error::TargetUnavailable`].
    pub fn requires(self, features: wgpu::Features) -> Kernel {
        self.map_inner(|inner| inner.declared_features |= features)
    }

    /// Declares that the twin starts no rayon work for launches of fewer than
    /// `invocations` invocations (it loops serially there), so those launches
    /// run it on the calling thread instead of handing it to the pool.
    ///
    /// Handing work to the pool and waiting for it costs two thread wake-ups,
    /// 5–50 µs on a busy machine: more than a small launch computes. A twin
    /// that calls rayon below this size anyway still computes the right
    /// result, but its parallel iterators then run on rayon's global pool
    /// rather than the runtime's, so declare only what the twin keeps to.
    pub fn serial_below(self, invocations: u64) -> Kernel {
        self.map_inner(|inner| inner.serial_below = invocations)
    }

    /// Declares that the kernel works element by element: in a 1-D launch,
    /// invocation `i` reads and writes only element `i` of each storage
    /// argument, and does nothing when `i` is past `arrayLength` of any of
    /// them. A GPU launch whose buffers exceed the adapter's storage binding
    /// size (`max_storage_buffer_binding_size`, 128 MiB on many adapters) can
    /// then run as several dispatches over aligned slices of every buffer;
    /// without the declaration it is refused on the GPU (and runs on the CPU
    /// under `Auto`).
    ///
    /// The slices are bound so that each dispatch sees element `i` of its
    /// slice as element 0 upward and `arrayLength` as the slice's length, so
    /// a kernel that bounds its index by a uniform count alone (not
    /// `arrayLength`) must not declare this: its last workgroup would write
    /// past its slice.
    pub fn elementwise(self) -> Kernel {
        self.map_inner(|inner| inner.elementwise = true)
    }

    /// See [`elementwise`](Self::elementwise).
    pub(crate) fn is_elementwise(&self) -> bool {
        self.inner.elementwise
    }

    /// Whether a launch over `invocations` runs its twin on the calling
    /// thread (see [`serial_below`](Self::serial_below)).
    pub(crate) fn twin_runs_inline(&self, invocations: [u32; 3]) -> bool {
        let total: u64 = invocations.iter().map(|&d| u64::from(d)).product();
        total < self.inner.serial_below
    }

    /// The features the GPU must have: detected from the shader plus
    /// [declared](Self::requires).
    pub fn required_features(&self) -> wgpu::Features {
        let detected = self
            .layout()
            .map_or(wgpu::Features::empty(), |l| l.required_features);
        detected | self.inner.declared_features
    }

    /// The work of a launch over `invocations`, as the dispatcher counts it.
    pub(crate) fn work(&self, invocations: [u32; 3]) -> u64 {
        match &self.inner.work_measure {
            Some(measure) => measure(invocations),
            None => invocations.iter().map(|&d| u64::from(d)).product(),
        }
    }

    /// The dispatcher's identity for this kernel: its name and a hash of its
    /// shader (so an edited shader starts a fresh history).
    pub(crate) fn dispatch_key(&self) -> &str {
        &self.inner.dispatch_key
    }

    fn map_inner(self, change: impl FnOnce(&mut KernelInner)) -> Kernel {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        inner.derive_dispatch_key();
        Kernel {
            inner: Arc::new(inner),
        }
    }

    /// The kernel's name, used in errors and reports.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether the kernel has a WGSL implementation.
    pub fn has_gpu(&self) -> bool {
        self.inner.wgsl.is_some()
    }

    /// Whether the kernel has a Rust twin.
    pub fn has_cpu(&self) -> bool {
        self.inner.twin.is_some()
    }

    /// The reflected interface of the WGSL implementation, if there is one.
    pub fn layout(&self) -> Option<&KernelLayout> {
        self.inner.wgsl.as_ref().map(|w| &w.layout)
    }

    pub(crate) fn wgsl_part(&self) -> Option<&WgslKernel> {
        self.inner.wgsl.as_ref()
    }

    pub(crate) fn twin(&self) -> Option<&Arc<CpuTwin>> {
        self.inner.twin.as_ref()
    }
}

/// One buffer argument as the twin sees it.
pub(crate) enum CpuSlot<'a> {
    Read(&'a [u8]),
    Write(Option<&'a mut [u8]>),
}

/// The arguments of a launch, as host slices, for a kernel's Rust twin.
///
/// Buffers are numbered like the shader's storage bindings; see the
/// [module docs](crate::kernel). Each output can be taken once per launch.
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
    /// [`Error::CpuArgument`] when there is no such argument, it was passed for
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
    /// [`Error::CpuArgument`] when there is no such argument, it was passed
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
    /// [`Error::CpuArgument`] when there is no such uniform or its size is not
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
    /// launch is below the kernel's [`Kernel::serial_below`]), so rayon's
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
