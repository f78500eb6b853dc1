//! Heat diffusion: the explicit 5-point step of the 2-D heat equation on an
//! N×N grid with zero (Dirichlet) boundaries, many steps per GPU submission,
//! checked against the exact solution of the discrete scheme.
//!
//! Run: `cargo run --release --example stencil [-- OPTIONS]`
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--size N` | 4096 | grid of N×N cells (two f32 buffers of 64 MiB at the default) |
//! | `--steps N` | 1000 | time steps |
//! | `--alpha A` | 0.24 | diffusion number D·dt/dx², stable up to 0.25 |
//! | `--target auto\|gpu\|cpu` | the runtime's default (auto) | where launches run |
//! | `--batch N` | 50 | steps per sequence (one GPU submission each) |
//! | `--cpu wgsl\|twin` | twin | what CPU steps run: the kernel's Rust twin, or its WGSL on switchyard's executor |
//! | `--png FILE` | none | heat map of the final field with its colour scale |
//! | `--json` | off | print one JSON object as the last line |
//!
//! Speed is reported as MLUPS (million cell updates per second) and GB/s at
//! 8 bytes per update (each cell read once and written once; neighbours come
//! from cache), next to the bandwidth of a parallel copy of the same bytes
//! measured in the same run: the memory-bound ceiling for this grid.

#[path = "../support/cli.rs"]
mod cli;
#[path = "../support/picture.rs"]
mod picture;
mod sim;

use std::time::Instant;

use cli::{f32_json, number, parse_args, progress_bar, target_name, RunOptions};
use picture::Picture;
use rayon::prelude::*;
use sim::HeatGrid;
use switchyard::Runtime;

/// Bytes a cell update must move at least: its old value in, its new one out.
const BYTES_PER_UPDATE: f64 = 8.0;

struct Options {
    size: usize,
    alpha: f32,
    run: RunOptions,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        size: 4096,
        alpha: 0.24,
        run: RunOptions::new(1000, 50),
    };
    // The closure and `parse_args` borrow disjoint fields.
    parse_args(
        &mut options.run,
        "examples/stencil/main.rs",
        |arg, value| {
            match arg {
                "--size" => options.size = number(arg, &value()?)?,
                "--alpha" => options.alpha = number(arg, &value()?)?,
                _ => return Ok(false),
            }
            Ok(true)
        },
    )?;
    sim::check_size_and_alpha(options.size, options.alpha)?;
    Ok(options)
}

fn main() {
    cli::main_with("stencil", parse_options, run);
}

fn run(options: &Options) -> Result<(), String> {
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    let requested = options.run.target.unwrap_or_else(|| rt.default_target());
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    let size = options.size;
    if !options.run.json {
        println!(
            "switchyard heat diffusion: {size}×{size} grid, {} steps, alpha {}, target {}",
            options.run.steps,
            options.alpha,
            target_name(requested)
        );
        match rt.gpu_unavailable_reason() {
            None => println!("GPU: {adapter}"),
            Some(why) => println!("GPU: none ({why}); running on the CPU"),
        }
    }
    let initial = sim::initial_field(size);
    let copy_gbps = copy_bandwidth(&initial, rt.cpu_threads())?;
    let mut grid = HeatGrid::with_cpu(&rt, &initial, size, options.run.wgsl_on_cpu)
        .map_err(|e| e.to_string())?;
    drop(initial);

    let progress = progress_bar(options.run.steps, options.run.json);
    let (mut gpu_launches, mut cpu_launches, mut submissions) = (0, 0, 0);
    let started = Instant::now();
    let mut done = 0;
    while done < options.run.steps {
        let steps = options.run.batch.min(options.run.steps - done);
        let report = grid
            .advance(steps, options.alpha, requested)
            .map_err(|e| e.to_string())?;
        gpu_launches += report.gpu_launches;
        cpu_launches += report.cpu_launches;
        submissions += report.submissions;
        done += steps;
        progress.set_position(done as u64);
    }
    // The clock stops once the final field is on the host (a readback when
    // the GPU ran the steps); checking it and drawing it are not timed.
    let (wall, max_error, picture) = grid
        .with_field(|field| {
            let wall = started.elapsed().as_secs_f64();
            let max_error =
                sim::max_error(field, size, options.run.steps, f64::from(options.alpha));
            let picture = options.run.png.as_ref().map(|_| heat_map(field, size, 512));
            (wall, max_error, picture)
        })
        .map_err(|e| e.to_string())?;
    progress.finish_and_clear();

    let updates = (size * size) as f64 * options.run.steps as f64;
    let mlups = updates / wall / 1e6;
    let gbps = updates * BYTES_PER_UPDATE / wall / 1e9;
    let alpha = f64::from(options.alpha);
    let bound = sim::error_bound(options.run.steps);
    let ran_on = match (gpu_launches, cpu_launches) {
        (0, _) => "cpu",
        (_, 0) => "gpu",
        _ => "mixed",
    };
    if let (Some(path), Some(picture)) = (&options.run.png, picture) {
        picture.save(path)?;
    }
    if options.run.json {
        let summary = serde_json::json!({
            "size": size,
            "steps": options.run.steps,
            "target": target_name(requested),
            "ran_on": ran_on,
            "adapter": adapter,
            "alpha": f32_json(options.alpha),
            "wall_s": wall,
            "mlups": mlups,
            "gbps": gbps,
            "bytes_per_update": BYTES_PER_UPDATE,
            "copy_gbps": copy_gbps,
            "max_error": max_error,
            "error_bound": bound,
        });
        println!("{summary}");
    } else {
        println!(
            "ran on {ran_on}: {gpu_launches} GPU and {cpu_launches} CPU launches, \
             {submissions} GPU submissions"
        );
        println!(
            "wall {wall:.2} s, {mlups:.0} MLUPS, {gbps:.2} GB/s at {BYTES_PER_UPDATE} B/update \
             ({:.0}% of a {copy_gbps:.2} GB/s parallel copy of the same bytes)",
            100.0 * gbps / copy_gbps
        );
        println!(
            "max error against the exact discrete solution {max_error:.2e} \
             (rounding bound {bound:.2e}; amplitude now {:.6})",
            sim::decay_factor(size, alpha).powi(options.run.steps as i32)
        );
        if let Some(path) = &options.run.png {
            println!("picture: {}", path.display());
        }
    }
    if max_error > bound {
        return Err(format!(
            "max error {max_error:e} exceeds the rounding bound {bound:e}"
        ));
    }
    Ok(())
}

/// GB/s of a parallel copy of `field`'s bytes into a second buffer (read
/// plus write, as the stencil counts them), best of 5, on a pool as large
/// as the runtime's.
fn copy_bandwidth(field: &[f32], threads: usize) -> Result<f64, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| e.to_string())?;
    let mut target = vec![0.0f32; field.len()];
    let chunk = (field.len() / (4 * threads.max(1))).max(1 << 14);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        pool.install(|| {
            target
                .par_chunks_mut(chunk)
                .zip(field.par_chunks(chunk))
                .for_each(|(to, from)| to.copy_from_slice(from));
        });
        best = best.min(started.elapsed().as_secs_f64());
    }
    std::hint::black_box(&target);
    Ok(2.0 * std::mem::size_of_val(field) as f64 / best / 1e9)
}

/// The field scaled to at most `pixels` per side (each pixel the mean of
/// its block of cells), coloured from its minimum to its maximum, with the
/// colour scale and those two values to the right.
fn heat_map(field: &[f32], size: usize, pixels: usize) -> Picture {
    let side = size.min(pixels);
    let (low, high) = field
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = f64::from(high - low).max(f64::MIN_POSITIVE);
    let (bar_left, bar_width, margin) = (side + 12, 20, 76);
    let mut picture = Picture::new((side + margin) as u32, side as u32);
    for py in 0..side {
        let rows = py * size / side..((py + 1) * size / side).max(py * size / side + 1);
        for px in 0..side {
            let columns = px * size / side..((px + 1) * size / side).max(px * size / side + 1);
            let mut sum = 0.0f64;
            for row in rows.clone() {
                sum += field[row * size + columns.start..row * size + columns.end]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum::<f64>();
            }
            let mean = sum / (rows.len() * columns.len()) as f64;
            picture.set(px as u32, py as u32, (mean - f64::from(low)) / span);
        }
    }
    for py in 0..side {
        let t = 1.0 - py as f64 / (side - 1).max(1) as f64;
        for px in bar_left..bar_left + bar_width {
            picture.set(px as u32, py as u32, t);
        }
    }
    let label_x = (bar_left + bar_width + 4) as u32;
    let scale = if side >= 256 { 2 } else { 1 };
    picture.text(
        label_x.min(picture.width - 1),
        2,
        &short_number(high),
        scale,
    );
    let bottom = (side as u32).saturating_sub(5 * scale + 2);
    picture.text(
        label_x.min(picture.width - 1),
        bottom,
        &short_number(low),
        scale,
    );
    picture
}

/// At most 4 characters for the colour scale: `1.00`, `0.50`, `2e-3`, `0`.
fn short_number(value: f32) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".into()
    } else if (0.01..10.0).contains(&magnitude) && value > 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.0e}")
    }
}
