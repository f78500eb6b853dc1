//! CPU and GPU at once, measured side by side in one process: an ensemble
//! submitted with `Launch::submit` under `Auto` against the same ensemble on
//! each single target, and what submitting costs against a blocking launch.
//!
//! Run: `cargo run --release --example coexec_report [-- --json] [--rounds 5]
//! [--members 32] [--size 128] [--steps 40]`
//!
//! lavapipe and the CPU pool get one core each (`LP_NUM_THREADS=1`, set here
//! unless the environment sets it, and a one-thread pool), so the two
//! devices do not share cores. Each case runs `rounds` times, the order of
//! the targets rotating per round; the figures are medians.
//!
//! - `ensemble_speedup`: the better single target's makespan over Auto's,
//!   where the two are within 2× of each other (CPU launches run the WGSL
//!   executor, which is about as fast as lavapipe on this kernel);
//! - `lopsided_ratio`: Auto's makespan over the better single target's,
//!   where one is over 10× faster (CPU launches run the Rust twin);
//! - `submit_over_blocking`: per launch, `submit().wait()` over `run()`, on
//!   a 1024-element saxpy on the CPU (where overhead is all there is);
//!   `submit_call_over_blocking`: the `submit()` call alone over `run()`;
//! - `split_speedup`: the better single target's time over a split
//!   launch's (`Launch::split`), for a 2^22-element saxpy repeated in
//!   place, CPU launches on the WGSL executor (about as fast as lavapipe on
//!   it); each mode keeps its own buffers where it leaves them: a GPU
//!   run's data stays on the GPU, a CPU run's on the host, a split's
//!   parts each on its side (`Residency::Split`);
//! - `split_compute_speedup`: the same for a compute-bound elementwise
//!   kernel, 2^20 anharmonic oscillators integrated 32 steps per launch
//!   (about 300 flops per element), where the two devices do not contend
//!   for memory bandwidth as saxpy's parts do;
//! - `auto_split_speedup`, `auto_split_compute_speedup`: the same for
//!   `Auto` launches, which split when that is predicted faster (learning
//!   from the same kernel's splits, the explicit ones included).
//!
//! Without a GPU the ensemble figures are `null`.

#[path = "support/cli.rs"]
mod cli;
#[path = "ensemble/sweep.rs"]
mod sweep;

use std::time::Instant;

use cli::{number, target_name};
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Runtime, RuntimeConfig, Target};

struct Options {
    json: bool,
    rounds: usize,
    members: usize,
    size: usize,
    steps: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        rounds: 5,
        members: 32,
        size: 128,
        steps: 40,
    };
    cli::for_each_arg("examples/coexec_report.rs", |arg, value| {
        match arg {
            "--json" => options.json = true,
            "--rounds" => options.rounds = number::<usize>(arg, &value()?)?.max(1),
            "--members" => options.members = number::<usize>(arg, &value()?)?.max(1),
            "--size" => options.size = number::<usize>(arg, &value()?)?.clamp(3, 4096),
            "--steps" => options.steps = number::<usize>(arg, &value()?)?.max(1),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() {
    if std::env::var_os("LP_NUM_THREADS").is_none() {
        // Before any Vulkan instance exists: lavapipe reads it once.
        std::env::set_var("LP_NUM_THREADS", "1");
    }
    cli::main_with("coexec_report", parse_options, run);
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median makespans of Gpu, Cpu and Auto over the rounds.
fn ensemble_makespans(
    rt: &Runtime,
    options: &Options,
    wgsl_on_cpu: bool,
) -> Result<[f64; 3], String> {
    let kernel = sweep::step_kernel(wgsl_on_cpu);
    sweep::warm_up(rt, &kernel, options.size)?;
    let targets = [Target::Gpu, Target::Cpu, Target::Auto];
    let mut times: [Vec<f64>; 3] = Default::default();
    for round in 0..options.rounds {
        for k in 0..3 {
            let index = (k + round) % 3;
            let sweep = sweep::Sweep {
                members: options.members,
                size: options.size,
                steps: options.steps,
                target: targets[index],
                wgsl_on_cpu,
            };
            let outcome = sweep::run_sweep(rt, &kernel, &sweep, |_| {})?;
            if outcome.worst_error_ratio > 1.0 {
                return Err(format!(
                    "{} ensemble: a member's error is {:.2}× its rounding bound",
                    target_name(targets[index]),
                    outcome.worst_error_ratio
                ));
            }
            times[index].push(outcome.makespan.as_secs_f64());
        }
    }
    Ok(times.map(median))
}

/// Seconds per launch of `run()`, of `submit().wait()`, and of the
/// `submit()` call alone, for a small saxpy on the CPU, paired by round.
fn submit_costs(rt: &Runtime, rounds: usize) -> Result<[f64; 3], String> {
    const N: usize = 1024;
    const LAUNCHES: usize = 400;
    let saxpy = kernels::saxpy();
    let x = rt
        .buffer_from_slice(&[1.0f32; N])
        .map_err(|e| e.to_string())?;
    let mut y = rt.buffer_zeroed::<f32>(N).map_err(|e| e.to_string())?;
    let params = SaxpyParams {
        a: 1.0,
        n: N as u32,
    };
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds * 4 {
        for (slot, submitted) in [(0, false), (1, true)] {
            let started = Instant::now();
            for _ in 0..LAUNCHES {
                let launch = rt
                    .launch(&saxpy)
                    .uniform(&params)
                    .read(&x)
                    .write(&mut y)
                    .invocations(N as u32)
                    .on(Target::Cpu);
                if submitted {
                    launch.submit().and_then(|pending| pending.wait())
                } else {
                    launch.run()
                }
                .map_err(|e| e.to_string())?;
            }
            times[slot].push(started.elapsed().as_secs_f64() / LAUNCHES as f64);
        }

        // Submitting alone: independent outputs, so nothing waits.
        let mut outputs: Vec<_> = (0..LAUNCHES)
            .map(|_| rt.buffer_zeroed::<f32>(N))
            .collect::<switchyard::Result<_>>()
            .map_err(|e| e.to_string())?;
        let mut pending = Vec::with_capacity(LAUNCHES);
        let started = Instant::now();
        for out in &mut outputs {
            pending.push(
                rt.launch(&saxpy)
                    .uniform(&params)
                    .read(&x)
                    .write(out)
                    .invocations(N as u32)
                    .on(Target::Cpu)
                    .submit()
                    .map_err(|e| e.to_string())?,
            );
        }
        times[2].push(started.elapsed().as_secs_f64() / LAUNCHES as f64);
        for pending in pending {
            pending.wait().map_err(|e| e.to_string())?;
        }
    }
    Ok(times.map(median))
}

/// Median seconds per launch `[gpu, cpu, split, auto]`, and the explicit
/// split's last parts `(cpu elements, gpu elements)`.
type SplitCosts = ([f64; 4], Option<(u64, u64)>);

/// The elementwise launches split across both targets, CPU parts on the
/// WGSL executor (about as fast as lavapipe on both).
#[derive(Clone, Copy)]
enum SplitCase {
    /// `y = a·x + y` over 2^22 elements: 12 bytes moved per 2 flops, so
    /// both devices contend for this machine's one memory bus.
    Saxpy,
    /// 2^20 independent anharmonic oscillators, `OSCILLATOR_STEPS`
    /// velocity-Verlet steps each per launch: about 300 flops per 12 bytes.
    Oscillators,
}

const OSCILLATOR_STEPS: u32 = 32;

/// `x'' = -k·x - x³` per element, integrated in place; `k` per element.
const OSCILLATORS: &str = r#"
struct Params {
    steps: u32,
    dt: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stiffness: array<f32>;
@group(0) @binding(2) var<storage, read_write> position: array<f32>;
@group(0) @binding(3) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= min(arrayLength(&stiffness), min(arrayLength(&position), arrayLength(&velocity))) {
        return;
    }
    let k = stiffness[i];
    let half_dt = 0.5 * params.dt;
    var x = position[i];
    var v = velocity[i];
    var a = -k * x - x * x * x;
    for (var step = 0u; step < params.steps; step++) {
        v += half_dt * a;
        x += params.dt * v;
        a = -k * x - x * x * x;
        v += half_dt * a;
    }
    position[i] = x;
    velocity[i] = v;
}
"#;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct OscillatorParams {
    steps: u32,
    dt: f32,
}

impl SplitCase {
    fn elements(self) -> usize {
        match self {
            SplitCase::Saxpy => 1 << 22,
            SplitCase::Oscillators => 1 << 20,
        }
    }

    fn kernel(self) -> Result<switchyard::Kernel, String> {
        match self {
            SplitCase::Saxpy => Ok(kernels::saxpy().prefer_wgsl_on_cpu()),
            SplitCase::Oscillators => switchyard::Kernel::wgsl("oscillators", OSCILLATORS, "main")
                .map(switchyard::Kernel::elementwise)
                .map_err(|e| e.to_string()),
        }
    }

    /// The read input and the two in-place states (saxpy uses the first).
    fn data(self, rt: &Runtime) -> switchyard::Result<SplitData> {
        let n = self.elements();
        let ramp = |scale: f32, offset: f32| -> Vec<f32> {
            (0..n)
                .map(|i| offset + scale * (i % 1000) as f32 / 1000.0)
                .collect()
        };
        Ok(SplitData {
            input: rt.buffer_from_slice(&ramp(1.0, 0.5))?,
            first: rt.buffer_from_slice(&ramp(0.5, 0.25))?,
            second: rt.buffer_zeroed(n)?,
        })
    }

    fn launch<'a>(
        self,
        rt: &'a Runtime,
        kernel: &'a switchyard::Kernel,
        data: &'a mut SplitData,
    ) -> switchyard::Launch<'a> {
        let n = self.elements() as u32;
        match self {
            SplitCase::Saxpy => rt
                .launch(kernel)
                .uniform(&SaxpyParams { a: 0.5, n })
                .read(&data.input)
                .write(&mut data.first),
            SplitCase::Oscillators => rt
                .launch(kernel)
                .uniform(&OscillatorParams {
                    steps: OSCILLATOR_STEPS,
                    dt: 0.01,
                })
                .read(&data.input)
                .write(&mut data.first)
                .write(&mut data.second),
        }
        .invocations(n)
    }
}

struct SplitData {
    input: switchyard::Buffer<f32>,
    first: switchyard::Buffer<f32>,
    second: switchyard::Buffer<f32>,
}

/// [`SplitCosts`] of `case` on the GPU, on the CPU, split across both
/// (`Launch::split`) and under `Auto` (which splits when it predicts that
/// faster, from the same kernel's measured splits); checks that the
/// split's and Auto's results match the GPU's.
fn split_costs(rt: &Runtime, rounds: usize, case: SplitCase) -> Result<SplitCosts, String> {
    const LAUNCHES: usize = 4;
    let kernel = case.kernel()?;
    let mut data = Vec::new();
    for _ in 0..4 {
        data.push(case.data(rt).map_err(|e| e.to_string())?);
    }
    let mut times: [Vec<f64>; 4] = Default::default();
    let mut parts = None;
    for round in 0..=rounds {
        for (mode, data) in data.iter_mut().enumerate() {
            let started = Instant::now();
            for _ in 0..LAUNCHES {
                let launch = case.launch(rt, &kernel, data);
                let report = match mode {
                    0 => launch.on(Target::Gpu).run(),
                    1 => launch.on(Target::Cpu).run(),
                    2 => launch.split().run(),
                    _ => launch.run(),
                }
                .map_err(|e| e.to_string())?;
                if let (2, Some(split)) = (mode, report.split) {
                    parts = Some((split.cpu_elements, split.gpu_elements));
                }
            }
            // Round 0 warms up (pipelines, first transfers, the model).
            if round > 0 {
                times[mode].push(started.elapsed().as_secs_f64() / LAUNCHES as f64);
            }
        }
    }
    // saxpy agrees bit for bit on every target; the oscillators' chains of
    // multiply-adds may be fused differently by lavapipe's compiler, a
    // rounding per step, far below this bound over a few hundred steps of
    // a motion of amplitude about 1.
    let gpu = data[0].first.to_vec().map_err(|e| e.to_string())?;
    for (mode, what) in [(2, "split"), (3, "Auto")] {
        let other = data[mode].first.to_vec().map_err(|e| e.to_string())?;
        let worst = gpu
            .iter()
            .zip(&other)
            .map(|(g, s)| (g - s).abs())
            .fold(0.0f32, f32::max);
        if worst > 1e-3 {
            return Err(format!(
                "{what} {} differs from the GPU's result by {worst}",
                case.kernel()?.name()
            ));
        }
    }
    Ok((times.map(median), parts))
}

fn run(options: &Options) -> Result<(), String> {
    let config = RuntimeConfig::from_env()
        .map_err(|e| e.to_string())?
        .cpu_threads(1)
        .cache_dir(None);
    let rt = Runtime::with_config(config).map_err(|e| e.to_string())?;
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    let lavapipe_threads = std::env::var("LP_NUM_THREADS").unwrap_or_default();
    if !options.json {
        println!(
            "switchyard co-execution report: GPU {adapter}, CPU pool of {} thread(s), \
             LP_NUM_THREADS={lavapipe_threads}",
            rt.cpu_threads()
        );
    }
    let (balanced, lopsided) = if rt.gpu_available() {
        (
            Some(ensemble_makespans(&rt, options, true)?),
            Some(ensemble_makespans(&rt, options, false)?),
        )
    } else {
        (None, None)
    };
    let [blocking, submit_wait, submit_call] = submit_costs(&rt, options.rounds)?;
    let (split, split_compute) = if rt.gpu_available() {
        (
            Some(split_costs(&rt, options.rounds, SplitCase::Saxpy)?),
            Some(split_costs(&rt, options.rounds, SplitCase::Oscillators)?),
        )
    } else {
        (None, None)
    };
    let speedup = |costs: &Option<SplitCosts>, mode: usize| {
        costs
            .as_ref()
            .map(|(times, _)| times[0].min(times[1]) / times[mode])
    };
    let split_speedup = speedup(&split, 2);
    let split_compute_speedup = speedup(&split_compute, 2);
    let auto_split_speedup = speedup(&split, 3);
    let auto_split_compute_speedup = speedup(&split_compute, 3);
    let split_ms = |costs: &Option<SplitCosts>| {
        costs.as_ref().map(|([gpu, cpu, split, auto], parts)| {
            serde_json::json!({
                "gpu": gpu * 1e3, "cpu": cpu * 1e3, "split": split * 1e3, "auto": auto * 1e3,
                "cpu_elements": parts.map(|p| p.0), "gpu_elements": parts.map(|p| p.1),
            })
        })
    };

    let best = |times: &[f64; 3]| times[0].min(times[1]);
    let ensemble_speedup = balanced.map(|times| best(&times) / times[2]);
    let lopsided_ratio = lopsided.map(|times| times[2] / best(&times));
    let submit_over_blocking = submit_wait / blocking;
    let submit_call_over_blocking = submit_call / blocking;
    let ms = |times: Option<[f64; 3]>| times.map(|t| t.map(|s| s * 1e3));
    if options.json {
        let summary = serde_json::json!({
            "adapter": adapter,
            "cpu_threads": rt.cpu_threads(),
            "lavapipe_threads": lavapipe_threads,
            "members": options.members,
            "size": options.size,
            "steps": options.steps,
            "rounds": options.rounds,
            "balanced_ms": ms(balanced).map(|[gpu, cpu, auto]| serde_json::json!({"gpu": gpu, "cpu": cpu, "auto": auto})),
            "lopsided_ms": ms(lopsided).map(|[gpu, cpu, auto]| serde_json::json!({"gpu": gpu, "cpu": cpu, "auto": auto})),
            "ensemble_speedup": ensemble_speedup,
            "split_speedup": split_speedup,
            "split_ms": split_ms(&split),
            "split_compute_speedup": split_compute_speedup,
            "auto_split_speedup": auto_split_speedup,
            "auto_split_compute_speedup": auto_split_compute_speedup,
            "split_compute_ms": split_ms(&split_compute),
            "lopsided_ratio": lopsided_ratio,
            "blocking_launch_us": blocking * 1e6,
            "submit_wait_us": submit_wait * 1e6,
            "submit_call_us": submit_call * 1e6,
            "submit_over_blocking": submit_over_blocking,
            "submit_call_over_blocking": submit_call_over_blocking,
        });
        println!("{summary}");
        return Ok(());
    }
    match (ms(balanced), ms(lopsided)) {
        (Some([gpu, cpu, auto]), Some([lgpu, lcpu, lauto])) => {
            println!(
                "ensemble, targets within 2× (CPU: WGSL executor): gpu {gpu:.1} ms, cpu {cpu:.1} ms, \
                 auto {auto:.1} ms: speedup {:.2} (goal ≥ 1.3)",
                ensemble_speedup.unwrap_or(f64::NAN)
            );
            println!(
                "ensemble, one target {:.0}× faster (CPU: twin): gpu {lgpu:.1} ms, cpu {lcpu:.1} ms, \
                 auto {lauto:.1} ms: auto / best {:.3} (goal ≤ 1.05)",
                lgpu.max(lcpu) / lgpu.min(lcpu),
                lopsided_ratio.unwrap_or(f64::NAN)
            );
        }
        _ => println!("ensemble: no GPU, not measured"),
    }
    for (what, costs, speedup, auto_speedup) in [
        ("2^22 saxpy", &split, split_speedup, auto_split_speedup),
        (
            "2^20 oscillators",
            &split_compute,
            split_compute_speedup,
            auto_split_compute_speedup,
        ),
    ] {
        match costs {
            Some(([gpu, cpu, split, auto], parts)) => println!(
                "split {what} (CPU: WGSL executor): gpu {:.2} ms, cpu {:.2} ms, split {:.2} ms \
                 (cpu {} + gpu {} elements), auto {:.2} ms: speedup {:.2}, auto {:.2} \
                 (goal ≥ 1.3)",
                gpu * 1e3,
                cpu * 1e3,
                split * 1e3,
                parts.map_or(0, |p| p.0),
                parts.map_or(0, |p| p.1),
                auto * 1e3,
                speedup.unwrap_or(f64::NAN),
                auto_speedup.unwrap_or(f64::NAN)
            ),
            None => println!("split {what}: no GPU, not measured"),
        }
    }
    println!(
        "small CPU launch: run {:.2} µs, submit+wait {:.2} µs ({submit_over_blocking:.2}×), \
         submit call alone {:.2} µs ({submit_call_over_blocking:.2}×; goal ≤ 1.2)",
        blocking * 1e6,
        submit_wait * 1e6,
        submit_call * 1e6
    );
    Ok(())
}
