//! A kernel: one computation with a WGSL implementation, a Rust twin, or both.
//!
//! [`Kernel::wgsl`] parses and validates the shader immediately, so a typo
//! fails where the kernel is defined, with naga's line and column, not at the
//! first launch. On the CPU pool a WGSL kernel runs on switchyard's executor
//! (lowered on its first CPU launch and kept by the kernel); a Rust twin,
//! when there is one, runs instead: a closure that receives the same
//! arguments as host slices through [`CpuArgs`] inside the runtime's rayon
//! pool.
//!
//! Argument order is shared by both implementations: buffer arguments are
//! numbered by the shader's storage bindings in `(group, binding)` order, and
//! uniforms by its uniform bindings in the same order. `args.input(0)` in the
//! twin is the buffer bound to the first storage binding.
//!
//! A `Kernel` is cheap to clone (an `Arc`) and `Send + Sync`.

use std::sync::{Arc, OnceLock};

use crate::cpu::wgsl::{self, Compiled};
use crate::cpu::{CpuArgs, CpuTwin};
use crate::error::Result;
use crate::pipeline::{KernelLayout, WgslKernel};

/// How a kernel runs on the CPU pool.
#[derive(Clone)]
pub(crate) enum CpuPath<'a> {
    Twin(&'a Arc<CpuTwin>),
    Wgsl(Arc<Compiled>),
}

/// The signature of a kernel's work measure: the launch's global size in,
/// the amount of work the dispatcher should scale its predictions by out.
pub type WorkMeasure = dyn Fn([u32; 3]) -> u64 + Send + Sync;

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
    /// See [`Kernel::prefer_wgsl_on_cpu`].
    prefer_wgsl_on_cpu: bool,
    /// The WGSL lowered for the CPU executor, or why it cannot be: made on
    /// first need, reset whenever the kernel changes.
    cpu_program: Arc<OnceLock<std::result::Result<Arc<Compiled>, String>>>,
    /// See [`Kernel::dispatch_key`]; derived from `name` and `wgsl`, and
    /// rebuilt whenever they change.
    dispatch_key: String,
}

impl KernelInner {
    fn derive_dispatch_key(&mut self) {
        self.dispatch_key = match &self.wgsl {
            // The executor and a twin run at different speeds: a kernel
            // that prefers its WGSL on the CPU learns a history of its own.
            Some(wgsl) if self.prefer_wgsl_on_cpu => {
                format!(
                    "{}#{}+wgsl-cpu",
                    self.name,
                    &wgsl.content_hash.to_hex()[..12]
                )
            }
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
    /// [`Error::InvalidShader`](crate::Error::InvalidShader) (naga's message with line and column) when the
    /// source does not parse or validate; [`Error::UnsupportedKernel`](crate::Error::UnsupportedKernel) when the
    /// entry point is missing or not `@compute`, or binds textures.
    pub fn wgsl(
        name: impl Into<String>,
        source: impl Into<Arc<str>>,
        entry_point: &str,
    ) -> Result<Kernel> {
        let name = name.into();
        let wgsl = WgslKernel::parse(&name, source.into(), entry_point)?;
        let mut inner = KernelInner {
            name,
            wgsl: Some(wgsl),
            twin: None,
            work_measure: None,
            declared_features: wgpu::Features::empty(),
            serial_below: 0,
            elementwise: false,
            prefer_wgsl_on_cpu: false,
            cpu_program: Arc::default(),
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
            prefer_wgsl_on_cpu: false,
            cpu_program: Arc::default(),
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
                wgsl.set_constant(name, value);
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
    /// [`Error::TargetUnavailable`](crate::Error::TargetUnavailable).
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
        inner.cpu_program = Arc::default();
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

    /// Whether the kernel can run on the CPU pool: it has a Rust twin, or
    /// WGSL that switchyard's executor runs (lowered on first call).
    pub fn has_cpu(&self) -> bool {
        self.cpu_path().is_ok()
    }

    /// Whether the kernel has a Rust twin.
    pub fn has_twin(&self) -> bool {
        self.inner.twin.is_some()
    }

    /// Runs the kernel's WGSL on switchyard's CPU executor even when it has
    /// a Rust twin: to check the twin against it, or because the twin is
    /// slower. Without this a twin, when there is one, is what runs on the
    /// CPU.
    ///
    /// Like every builder method this makes a new kernel, which lowers its
    /// WGSL for the executor on its first CPU launch (about a millisecond):
    /// make it once and keep it, rather than once per launch.
    pub fn prefer_wgsl_on_cpu(self) -> Kernel {
        self.map_inner(|inner| inner.prefer_wgsl_on_cpu = true)
    }

    /// How the CPU pool runs this kernel, or why it cannot: the twin unless
    /// [`prefer_wgsl_on_cpu`](Self::prefer_wgsl_on_cpu), else the WGSL on
    /// the executor when it supports the shader.
    pub(crate) fn cpu_path(&self) -> std::result::Result<CpuPath<'_>, String> {
        match (&self.inner.twin, &self.inner.wgsl) {
            (Some(twin), _) if !self.inner.prefer_wgsl_on_cpu => Ok(CpuPath::Twin(twin)),
            (_, Some(source)) => self
                .inner
                .cpu_program
                .get_or_init(|| wgsl::compile(source).map(Arc::new))
                .clone()
                .map(CpuPath::Wgsl)
                .map_err(|why| match self.inner.twin {
                    Some(_) => format!("it prefers WGSL on the CPU, but {why}"),
                    None => format!("the kernel has no CPU twin, and {why}"),
                }),
            (None, None) => Err("the kernel has neither a CPU twin nor WGSL".into()),
            (Some(_), None) => Err("it prefers WGSL on the CPU, but has no WGSL".into()),
        }
    }

    /// The reflected interface of the WGSL implementation, if there is one.
    pub fn layout(&self) -> Option<&KernelLayout> {
        self.inner.wgsl.as_ref().map(|w| &w.layout)
    }

    pub(crate) fn wgsl_part(&self) -> Option<&WgslKernel> {
        self.inner.wgsl.as_ref()
    }
}
