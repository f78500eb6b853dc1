//! One explicit heat-equation step on a 2-D grid (5-point stencil).

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{builtin, runs_serially, PARALLEL_MIN_ELEMENTS};
use crate::cpu::CpuArgs;
use crate::kernel::Kernel;
use crate::{Error, Result};

pub(crate) const SOURCE: &str = include_str!("../../shaders/jacobi2d.wgsl");

/// The uniform of [`jacobi2d`]; matches `shaders/jacobi2d.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Jacobi2dParams {
    /// Grid columns.
    pub width: u32,
    /// Grid rows.
    pub height: u32,
    /// Diffusion number `D·dt/dx²`; stable for `alpha <= 0.25`.
    pub alpha: f32,
    /// Padding to WGSL's 16-byte uniform layout.
    pub _pad: u32,
}

/// `dst = src + alpha·(4-neighbour Laplacian)` inside, `dst = src` on the
/// boundary. Arguments: uniform [`Jacobi2dParams`], `.read(src)`,
/// `.write(dst)` (or `.overwrite`), `.grid([width, height, 1])`.
pub fn jacobi2d() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("jacobi2d", SOURCE, "main")?
            .cpu(jacobi_twin)
            .serial_below(PARALLEL_MIN_ELEMENTS as u64))
    })
}

fn jacobi_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: Jacobi2dParams = args.uniform(0)?;
    let invocations = args.invocations();
    let src = args.input::<f32>(0)?;
    let dst = args.output::<f32>(1)?;
    let (w, h) = (params.width as usize, params.height as usize);
    let cells = w * h;
    if cells > src.len() || cells > dst.len() {
        // The shader does nothing in this case (it cannot report an error);
        // the twin can, and says why.
        return Err(Error::CpuArgument {
            kernel: args.kernel_name().into(),
            message: format!(
                "grid {w}×{h} = {cells} cells, but src has {} and dst {} elements",
                src.len(),
                dst.len()
            ),
        });
    }
    if cells == 0 {
        return Ok(());
    }
    let alpha = params.alpha;
    let row_step = |(y, out): (usize, &mut [f32])| {
        let row = &src[y * w..(y + 1) * w];
        if y == 0 || y == h - 1 || w < 3 {
            out.copy_from_slice(row);
            return;
        }
        let up = &src[(y - 1) * w..y * w];
        let down = &src[(y + 1) * w..(y + 2) * w];
        out[0] = row[0];
        out[w - 1] = row[w - 1];
        let interior = out[1..w - 1]
            .iter_mut()
            .zip(&row[1..w - 1])
            .zip(row[..w - 2].iter().zip(&row[2..]))
            .zip(up[1..w - 1].iter().zip(&down[1..w - 1]));
        for (((o, &c), (&l, &r)), (&u, &d)) in interior {
            *o = c + alpha * ((l + r) + (u + d) - 4.0 * c);
        }
    };
    let dst = &mut dst[..cells];
    if runs_serially(invocations, cells, PARALLEL_MIN_ELEMENTS) {
        dst.chunks_mut(w).enumerate().for_each(row_step);
    } else {
        dst.par_chunks_mut(w).enumerate().for_each(row_step);
    }
    Ok(())
}
