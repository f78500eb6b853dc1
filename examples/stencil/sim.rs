//! The heat-diffusion simulation behind `examples/stencil`: an explicit
//! 5-point step of `u_t = D ∇²u` on an N×N grid with the boundary held at
//! zero, ping-ponging two runtime buffers, and the exact discrete solution
//! it is checked against. `tests/stencil.rs` includes this file.
//!
//! The initial field is `u₀(i, j) = sin(π i/(N-1)) sin(π j/(N-1))`, zero on
//! the boundary. It is an eigenvector of the discrete step: each step
//! multiplies it by `g = 1 - 8 α sin²(π / (2 (N-1)))` (α = D dt / dx²), so
//! after K steps the exact answer of the scheme itself is `g^K u₀`, and
//! any difference is rounding.

#![allow(dead_code)] // each includer uses its own part

use switchyard::kernels::{self, Jacobi2dParams};
use switchyard::{Buffer, Kernel, Runtime, SequenceReport, Target};

/// `sin(π k / (N-1))` for k in 0..N, exactly 0 at both ends.
fn sine_profile(size: usize) -> Vec<f64> {
    let last = (size - 1).max(1) as f64;
    (0..size)
        .map(|k| {
            if k == 0 || k == size - 1 {
                0.0
            } else {
                (std::f64::consts::PI * k as f64 / last).sin()
            }
        })
        .collect()
}

/// The product-of-sines initial field, row-major.
pub fn initial_field(size: usize) -> Vec<f32> {
    initial_rows(size, 0..size)
}

/// Rows `rows` of [`initial_field`], row-major: what one slab of a
/// decomposed grid starts from.
pub fn initial_rows(size: usize, rows: std::ops::Range<usize>) -> Vec<f32> {
    let profile = sine_profile(size);
    profile[rows]
        .iter()
        .flat_map(|&row| profile.iter().map(move |&col| (row * col) as f32))
        .collect()
}

/// Checks the demos' `--size` and `--alpha`: a grid with an interior that
/// fits the kernel's u32 indices, and a stable diffusion number.
pub fn check_size_and_alpha(size: usize, alpha: f32) -> Result<(), String> {
    if !(3..=32768).contains(&size) {
        return Err(format!("--size {size} is outside 3..=32768"));
    }
    if !(alpha > 0.0 && alpha <= 0.25) {
        return Err(format!(
            "--alpha {alpha} is outside (0, 0.25], where the explicit step is stable"
        ));
    }
    Ok(())
}

/// What one step multiplies the initial field by.
pub fn decay_factor(size: usize, alpha: f64) -> f64 {
    let theta = std::f64::consts::PI / (2.0 * (size - 1).max(1) as f64);
    1.0 - 8.0 * alpha * theta.sin().powi(2)
}

/// The largest difference between `field` and the exact solution
/// `g^steps u₀`, in f64.
pub fn max_error(field: &[f32], size: usize, steps: usize, alpha: f64) -> f64 {
    max_error_of_rows(field, size, 0, steps, alpha)
}

/// [`max_error`] of rows `first_row..` of the grid, given in `rows`.
pub fn max_error_of_rows(
    rows: &[f32],
    size: usize,
    first_row: usize,
    steps: usize,
    alpha: f64,
) -> f64 {
    let profile = sine_profile(size);
    let amplitude = decay_factor(size, alpha).powi(steps as i32);
    rows.iter()
        .enumerate()
        .map(|(k, &value)| {
            let exact = amplitude * profile[first_row + k / size] * profile[k % size];
            (f64::from(value) - exact).abs()
        })
        .fold(0.0, f64::max)
}

/// The bound `max_error` is checked against: every step rounds each cell's
/// update (five adds and a multiply in f32, about 4 u of the field's size
/// after a fused multiply-add or none), and the step damps earlier errors
/// rather than growing them (α ≤ 1/4), so errors add up at most linearly;
/// plus the rounding of the initial field to f32.
pub fn error_bound(steps: usize) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    (4.0 * steps as f64 + 1.0) * u
}

/// A grid in two buffers: the current field and the one the next step
/// writes.
pub struct HeatGrid<'rt> {
    rt: &'rt Runtime,
    size: u32,
    current: Buffer<f32>,
    next: Buffer<f32>,
    step: Kernel,
}

impl<'rt> HeatGrid<'rt> {
    /// Uploads `field` (row-major, `size²` values).
    ///
    /// # Errors
    /// Buffer creation failing, or a size that does not fit the kernel.
    pub fn new(rt: &'rt Runtime, field: &[f32], size: usize) -> switchyard::Result<Self> {
        Self::with_cpu(rt, field, size, false)
    }

    /// As [`new`](Self::new); with `wgsl_on_cpu`, CPU steps run the kernel's
    /// WGSL on switchyard's executor instead of its Rust twin.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_cpu(
        rt: &'rt Runtime,
        field: &[f32],
        size: usize,
        wgsl_on_cpu: bool,
    ) -> switchyard::Result<Self> {
        let side = u32::try_from(size)
            .ok()
            .filter(|&side| field.len() == size * size && side >= 1)
            .ok_or_else(|| switchyard::Error::LaunchSize {
                kernel: "jacobi2d".into(),
                message: format!("a {size}×{size} grid needs {} values", size * size),
            })?;
        Ok(HeatGrid {
            rt,
            size: side,
            current: rt.buffer_from_slice(field)?,
            // A copy rather than zeros: the boundary, which no step writes,
            // is then right in both buffers, and the pages of both are in
            // memory before the first step instead of faulting in during it.
            next: rt.buffer_from_slice(field)?,
            step: if wgsl_on_cpu {
                kernels::jacobi2d().prefer_wgsl_on_cpu()
            } else {
                kernels::jacobi2d()
            },
        })
    }

    /// Cells per side.
    pub fn size(&self) -> usize {
        self.size as usize
    }

    /// `steps` steps in one sequence (one GPU submission when they run
    /// there), swapping the buffers after each.
    ///
    /// # Errors
    /// A launch or the submission failing.
    pub fn advance(
        &mut self,
        steps: usize,
        alpha: f32,
        target: Target,
    ) -> switchyard::Result<SequenceReport> {
        let params = Jacobi2dParams {
            width: self.size,
            height: self.size,
            alpha,
            _pad: 0,
        };
        let mut sequence = self.rt.sequence().on(target);
        for _ in 0..steps {
            sequence
                .launch(&self.step)
                .uniform(&params)
                .read(&self.current)
                .overwrite(&mut self.next)
                .grid([self.size, self.size, 1])
                .run()?;
            std::mem::swap(&mut self.current, &mut self.next);
        }
        sequence.finish()
    }

    /// The current field, read back from wherever it is.
    ///
    /// # Errors
    /// The readback failing.
    pub fn field(&self) -> switchyard::Result<Vec<f32>> {
        self.current.to_vec()
    }

    /// Runs `f` on the current field in place (read back first if the GPU
    /// has newer data), without copying it out.
    ///
    /// # Errors
    /// The readback failing.
    pub fn with_field<R>(&self, f: impl FnOnce(&[f32]) -> R) -> switchyard::Result<R> {
        self.current.with_host(f)
    }
}
