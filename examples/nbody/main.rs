//! N-body gravity: all-pairs softened forces and kick-drift-kick leapfrog,
//! on the GPU, the CPU or wherever switchyard's dispatcher sends each launch.
//!
//! Run: `cargo run --release --example nbody [-- OPTIONS]`
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--bodies N` | 8192 | bodies (the binary always has 2) |
//! | `--steps N` | 600 | leapfrog steps |
//! | `--dt T` | 0.01 | step, in Hénon time units |
//! | `--softening E` | 0.05 | Plummer softening length |
//! | `--ic plummer\|cube\|binary` | plummer | initial conditions |
//! | `--seed S` | 1 | random seed of the initial conditions |
//! | `--target auto\|gpu\|cpu` | the runtime's default (auto) | where launches run |
//! | `--batch N` | 10 | steps per sequence (one GPU submission each) |
//! | `--cpu wgsl\|twin` | twin | what CPU launches run: the kernels' Rust twins, or their WGSL on switchyard's executor |
//! | `--png FILE` | none | picture of the final state, x-y projection, brightness by density |
//! | `--json` | off | print one JSON object as the last line |
//!
//! The default run (8192 bodies, 600 steps) takes about 10 s on a 2-core
//! CPU. It checks itself: total energy (kinetic plus softened potential, in
//! f64) and momentum at the start and the end.

#[path = "../support/cli.rs"]
mod cli;
#[path = "../support/picture.rs"]
mod picture;
mod sim;

use std::time::Instant;

use cli::{f32_json, number, parse_args, progress_bar, target_name, RunOptions};
use picture::Picture;
use sim::{InitialConditions, Simulation, State};
use switchyard::Runtime;

struct Options {
    bodies: usize,
    dt: f32,
    softening: f32,
    ic: InitialConditions,
    seed: u64,
    run: RunOptions,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        bodies: 8192,
        dt: 0.01,
        softening: 0.05,
        ic: InitialConditions::Plummer,
        seed: 1,
        run: RunOptions::new(600, 10),
    };
    // The closure and `parse_args` borrow disjoint fields.
    parse_args(&mut options.run, "examples/nbody/main.rs", |arg, value| {
        match arg {
            "--bodies" => options.bodies = number(arg, &value()?)?,
            "--dt" => options.dt = number(arg, &value()?)?,
            "--softening" => options.softening = number(arg, &value()?)?,
            "--seed" => options.seed = number(arg, &value()?)?,
            "--ic" => {
                let name = value()?;
                options.ic = InitialConditions::parse(&name)
                    .ok_or_else(|| format!("--ic: `{name}` is not plummer, cube or binary"))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if options.ic == InitialConditions::Binary {
        options.bodies = 2;
    }
    if options.bodies < 2 || options.bodies > u32::MAX as usize / 4 {
        return Err(format!("--bodies {} is out of range", options.bodies));
    }
    if !(options.softening > 0.0 && options.dt > 0.0 && options.dt.is_finite()) {
        return Err("--softening and --dt must be positive".into());
    }
    Ok(options)
}

fn main() {
    cli::main_with("nbody", parse_options, run);
}

/// Where the launches of a run went.
#[derive(Default)]
struct Placement {
    gpu_launches: usize,
    cpu_launches: usize,
    submissions: u64,
}

impl Placement {
    fn ran_on(&self) -> &'static str {
        match (self.gpu_launches, self.cpu_launches) {
            (0, _) => "cpu",
            (_, 0) => "gpu",
            _ => "mixed",
        }
    }
}

fn run(options: &Options) -> Result<(), String> {
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    let requested = options.run.target.unwrap_or_else(|| rt.default_target());
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    let softening = f64::from(options.softening);
    let initial = options.ic.generate(options.bodies, options.seed, softening);
    let n = initial.len();
    if !options.run.json {
        println!(
            "switchyard N-body: {n} bodies ({}, seed {}), {} steps of dt {}, softening {}, \
             target {}",
            options.ic.name(),
            options.seed,
            options.run.steps,
            options.dt,
            options.softening,
            target_name(requested),
        );
        match rt.gpu_unavailable_reason() {
            None => println!("GPU: {adapter}"),
            Some(why) => println!("GPU: none ({why}); running on the CPU"),
        }
    }
    let energy_start = initial.energy(softening);
    let momentum_start = initial.momentum();

    let mut simulation = Simulation::with_cpu(
        &rt,
        &initial,
        options.softening,
        requested,
        options.run.wgsl_on_cpu,
    )
    .map_err(|e| e.to_string())?;
    let progress = progress_bar(options.run.steps, options.run.json);
    let mut placement = Placement::default();
    let started = Instant::now();
    let mut done = 0;
    while done < options.run.steps {
        let steps = options.run.batch.min(options.run.steps - done);
        let report = simulation
            .advance(steps, options.dt, requested)
            .map_err(|e| e.to_string())?;
        placement.gpu_launches += report.gpu_launches;
        placement.cpu_launches += report.cpu_launches;
        placement.submissions += report.submissions;
        done += steps;
        progress.set_position(done as u64);
    }
    let final_state = simulation.state().map_err(|e| e.to_string())?;
    let wall = started.elapsed().as_secs_f64();
    progress.finish_and_clear();

    let energy_end = final_state.energy(softening);
    let momentum_end = final_state.momentum();
    let rel_energy_drift = ((energy_end - energy_start) / energy_start).abs();
    let momentum_change = (0..3)
        .map(|c| (momentum_end[c] - momentum_start[c]).powi(2))
        .sum::<f64>()
        .sqrt();
    // Relative to Σ m|v|, the size of the terms the total momentum sums
    // (the cold cube starts at rest, so the larger of start and end).
    let momentum_scale = initial
        .momentum_scale()
        .max(final_state.momentum_scale())
        .max(f64::MIN_POSITIVE);
    let momentum_drift = momentum_change / momentum_scale;
    let interactions_per_s = (n as f64).powi(2) * options.run.steps as f64 / wall;

    if let Some(path) = &options.run.png {
        density_picture(&final_state, 512).save(path)?;
    }
    if options.run.json {
        let summary = serde_json::json!({
            "bodies": n,
            "steps": options.run.steps,
            "target": target_name(requested),
            "ran_on": placement.ran_on(),
            "adapter": adapter,
            "ic": options.ic.name(),
            "dt": f32_json(options.dt),
            "softening": f32_json(options.softening),
            "wall_s": wall,
            "interactions_per_s": interactions_per_s,
            "energy_start": energy_start,
            "energy_end": energy_end,
            "rel_energy_drift": rel_energy_drift,
            "momentum_drift": momentum_drift,
        });
        println!("{summary}");
    } else {
        println!(
            "ran on {}: {} GPU and {} CPU launches, {} GPU submissions",
            placement.ran_on(),
            placement.gpu_launches,
            placement.cpu_launches,
            placement.submissions
        );
        println!(
            "wall {wall:.2} s, {:.3} G interactions/s",
            interactions_per_s / 1e9
        );
        println!(
            "energy {energy_start:.6} -> {energy_end:.6} (relative drift {rel_energy_drift:.2e}), \
             momentum drift {momentum_drift:.2e} of sum m|v|"
        );
        if options.ic == InitialConditions::Binary {
            println!(
                "binary separation 1 -> {:.6} after {:.2} orbits",
                final_state.separation(),
                f64::from(options.dt) * options.run.steps as f64 / sim::binary_period(softening)
            );
        }
        if let Some(path) = &options.run.png {
            println!("picture: {}", path.display());
        }
        println!("{}", rt.report());
    }
    Ok(())
}

/// The bodies projected onto the x-y plane, brightness by the logarithm of
/// the projected density over four decades. Masses are deposited per pixel
/// and smoothed by three passes of a 5-pixel box filter (close to a Gaussian
/// of 2.4 pixels), so density, not single bodies, sets the brightness. The
/// view is centred on the origin (the centre of mass) and spans the 98th
/// percentile of |x| and |y|, so a few escapers do not shrink the cluster
/// to a dot.
fn density_picture(state: &State, size: u32) -> Picture {
    let n = state.len();
    let (xs, ys, ms) = (
        &state.bodies[..n],
        &state.bodies[n..2 * n],
        &state.bodies[3 * n..],
    );
    let mut extents: Vec<f32> = xs
        .iter()
        .chain(ys)
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .collect();
    extents.sort_by(f32::total_cmp);
    let half_width = extents
        .get(extents.len() * 98 / 100)
        .copied()
        .unwrap_or(1.0)
        .max(1e-6)
        * 1.1;
    let side = size as usize;
    let mut density = vec![0.0f64; side * side];
    for i in 0..n {
        let to_pixel = |v: f32| ((v / half_width + 1.0) * 0.5 * size as f32).floor();
        let (px, py) = (to_pixel(xs[i]), to_pixel(-ys[i]));
        if px >= 0.0 && py >= 0.0 && px < size as f32 && py < size as f32 {
            density[py as usize * side + px as usize] += f64::from(ms[i]);
        }
    }
    for _ in 0..3 {
        density = box_blur(&density, side, 2);
    }
    let densest = density.iter().copied().fold(0.0, f64::max);
    let mut picture = Picture::new(size, size);
    if densest <= 0.0 {
        return picture;
    }
    for (pixel, &rho) in density.iter().enumerate() {
        if rho > 0.0 {
            let t = 1.0 + (rho / densest).log10() / 4.0;
            picture.set((pixel % side) as u32, (pixel / side) as u32, t);
        }
    }
    picture
}

/// A `(2 radius + 1)`-pixel box filter, rows then columns; pixels beyond
/// the edge count as empty.
fn box_blur(image: &[f64], side: usize, radius: usize) -> Vec<f64> {
    let width = (2 * radius + 1) as f64;
    let pass = |source: &[f64], at: &dyn Fn(usize, usize) -> usize| {
        let mut out = vec![0.0; side * side];
        for line in 0..side {
            for k in 0..side {
                let from = k.saturating_sub(radius);
                let to = (k + radius).min(side - 1);
                let sum: f64 = (from..=to).map(|m| source[at(line, m)]).sum();
                out[at(line, k)] = sum / width;
            }
        }
        out
    };
    let rows = pass(image, &|line, k| line * side + k);
    pass(&rows, &|line, k| k * side + line)
}
