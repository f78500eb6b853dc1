//! Helpers shared by the integration tests.
#![allow(dead_code)]

use switchyard::{BackendChoice, Runtime, RuntimeConfig};

/// A runtime with the environment's adapter choice and no on-disk cache.
/// `None` (test skipped, with a note) when there is no usable GPU, unless
/// `SWITCHYARD_REQUIRE_GPU=1`, which turns the skip into a failure.
pub fn gpu_runtime() -> Option<Runtime> {
    let config = RuntimeConfig::from_env()
        .expect("SWITCHYARD_* variables parse")
        .cache_dir(None);
    let rt = Runtime::with_config(config).expect("runtime builds");
    if rt.gpu_available() {
        return Some(rt);
    }
    let why = rt.gpu_unavailable_reason().unwrap_or_default();
    if std::env::var("SWITCHYARD_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        panic!("SWITCHYARD_REQUIRE_GPU=1 but no GPU adapter: {why}");
    }
    eprintln!("skipping GPU part: {why}");
    None
}

/// A runtime that never opens a GPU.
pub fn cpu_runtime() -> Runtime {
    Runtime::with_config(
        RuntimeConfig::default()
            .backend(BackendChoice::None)
            .cache_dir(None),
    )
    .expect("CPU-only runtime builds")
}

/// The CPU-only runtime, plus the GPU runtime when there is one: functional
/// tests run against each.
pub fn all_runtimes() -> Vec<Runtime> {
    let mut runtimes = vec![cpu_runtime()];
    runtimes.extend(gpu_runtime());
    runtimes
}

/// Deterministic pseudo-random f32 in [-1, 1) (xorshift), so failures reproduce.
pub fn random_f32(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

use switchyard::kernels::{self, Jacobi2dParams, SaxpyParams};
use switchyard::{Buffer, LaunchReport, SequenceReport, Target};

/// `y = a·x + y` over all of `x` on `target`.
pub fn saxpy(
    rt: &Runtime,
    a: f32,
    x: &Buffer<f32>,
    y: &mut Buffer<f32>,
    target: Target,
) -> LaunchReport {
    let n = x.len() as u32;
    rt.launch(&kernels::saxpy())
        .uniform(&SaxpyParams { a, n })
        .read(x)
        .write(y)
        .invocations(n)
        .on(target)
        .run()
        .expect("saxpy launch")
}

/// One sequence of heat steps on a `w`×`h` grid, step `i` on `targets[i]`,
/// ping-ponging two buffers. Returns the final grid and the sequence report.
pub fn jacobi_steps(
    rt: &Runtime,
    grid: &[f32],
    (w, h): (u32, u32),
    alpha: f32,
    targets: &[Target],
) -> (Vec<f32>, SequenceReport) {
    let mut a = rt.buffer_from_slice(grid).expect("grid buffer");
    let mut b = rt.buffer_zeroed::<f32>(grid.len()).expect("scratch buffer");
    let params = Jacobi2dParams {
        width: w,
        height: h,
        alpha,
        _pad: 0,
    };
    let kernel = kernels::jacobi2d();
    let mut seq = rt.sequence();
    for &target in targets {
        seq.launch(&kernel)
            .uniform(&params)
            .read(&a)
            .overwrite(&mut b)
            .grid([w, h, 1])
            .on(target)
            .run()
            .expect("jacobi launch");
        std::mem::swap(&mut a, &mut b);
    }
    let report = seq.finish().expect("sequence finishes");
    (a.to_vec().expect("readback"), report)
}

/// One runtime of each kind (CPU-only, and the GPU one when there is one),
/// made once for all the property cases of a test binary: opening a device
/// per case would be most of the test's time.
pub fn shared_runtimes() -> &'static [Runtime] {
    static RUNTIMES: std::sync::OnceLock<Vec<Runtime>> = std::sync::OnceLock::new();
    RUNTIMES.get_or_init(all_runtimes)
}

/// Writes its buffer, then loops forever in the lanes whose value is odd.
pub const NEVER_ENDS: &str = r#"
@group(0) @binding(0) var<storage, read_write> v: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= arrayLength(&v) { return; }
    let start = v[id.x];
    v[id.x] = 12345u;
    var x = start;
    loop {
        if x % 2u == 0u { break; }
        x = x + 2u;
    }
    v[id.x] = x;
}
"#;
