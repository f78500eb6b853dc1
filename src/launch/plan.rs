//! Step 2 of a GPU launch: how it fits this device.
//!
//! [`gpu_plan`] checks the arguments against the device's limits (buffer
//! size, storage binding size, uniform size, workgroup size and memory) and
//! plans the dispatch:
//! - a grid within the per-dispatch workgroup limit is one dispatch; a 1-D
//!   launch over it is folded into 2-D when the kernel linearizes over
//!   `num_workgroups` (`dispatch::plan_grid`), else it runs as several
//!   dispatches of the kernel's grid-offset variant (`pipeline::split`);
//! - buffers over the storage binding limit are bound in slices when the
//!   kernel is [elementwise](crate::Kernel::elementwise), else refused.
//!
//! A refusal is a `String` saying why: the dispatcher then keeps the launch
//! on the CPU (`Auto`) or fails it ([`Target::Gpu`](crate::Target::Gpu)).
//! Invariant: nothing here touches a buffer or the device queue.

use super::Arg;
use crate::device::GpuContext;
use crate::dispatch::{plan_grid, workgroups_for};
use crate::kernel::Kernel;
use crate::pipeline::{BindingShape, WgslKernel};

/// How the launch is dispatched, or why it exceeds the device's limits.
pub(super) fn gpu_plan(
    gpu: &GpuContext,
    kernel: &Kernel,
    wgsl: &WgslKernel,
    buffers: &[Arg<'_>],
    uniforms: &[Vec<u8>],
    invocations: [u32; 3],
) -> std::result::Result<GpuPlan, String> {
    let limits = &gpu.limits;
    let mut over_binding_limit = None;
    for (arg, info) in buffers.iter().zip(&wgsl.layout.buffers) {
        let bytes = arg.raw().byte_len();
        if bytes > limits.max_buffer_size {
            return Err(format!(
                "argument `{}` has {bytes} bytes, over the adapter's {}-byte buffer size limit",
                info.name, limits.max_buffer_size
            ));
        }
        if bytes > limits.max_storage_buffer_binding_size && over_binding_limit.is_none() {
            over_binding_limit = Some(format!(
                "argument `{}` has {bytes} bytes, over the adapter's {}-byte storage binding limit",
                info.name, limits.max_storage_buffer_binding_size
            ));
        }
        if bytes % wgpu::COPY_BUFFER_ALIGNMENT != 0 {
            return Err(format!(
                "argument `{}` has {bytes} bytes, not a multiple of 4",
                info.name
            ));
        }
    }
    for (value, info) in uniforms.iter().zip(&wgsl.layout.uniforms) {
        if value.len() as u64 > limits.max_uniform_buffer_binding_size {
            return Err(format!(
                "uniform `{}` exceeds the adapter's uniform size limit",
                info.name
            ));
        }
    }
    let [x, y, z] = wgsl.layout.workgroup_size;
    if x * y * z > limits.max_compute_invocations_per_workgroup {
        return Err(format!(
            "workgroup size {x}×{y}×{z} exceeds the adapter's {} invocations",
            limits.max_compute_invocations_per_workgroup
        ));
    }
    if wgsl.layout.workgroup_memory_bytes > u64::from(limits.max_compute_workgroup_storage_size) {
        return Err(format!(
            "{} bytes of workgroup memory exceed the adapter's {}",
            wgsl.layout.workgroup_memory_bytes, limits.max_compute_workgroup_storage_size
        ));
    }
    let slices = match over_binding_limit {
        None => None,
        Some(why) => Some(
            plan_slices(gpu, kernel, wgsl, buffers, invocations)
                .map_err(|refusal| format!("{why}; {refusal}"))?,
        ),
    };
    let dispatched = match &slices {
        Some(slices) => [slices.per_slice.min(u64::from(invocations[0])) as u32, 1, 1],
        None => invocations,
    };
    Ok(GpuPlan {
        grid: plan_dispatch(gpu, wgsl, dispatched)?,
        slices,
    })
}

/// How `invocations` are dispatched: in one dispatch if the grid fits,
/// else in several through the kernel's grid-offset variant (see
/// `pipeline::split`).
fn plan_dispatch(
    gpu: &GpuContext,
    wgsl: &WgslKernel,
    invocations: [u32; 3],
) -> std::result::Result<GridPlan, String> {
    let limits = &gpu.limits;
    let max_per_dimension = limits.max_compute_workgroups_per_dimension;
    let one_dispatch = plan_grid(
        invocations,
        wgsl.layout.workgroup_size,
        max_per_dimension,
        wgsl.layout.reads_num_workgroups,
    );
    let over_limit = match one_dispatch {
        Ok(grid) => return Ok(GridPlan::Single(grid)),
        Err(why) => why,
    };
    let free_group = wgsl.layout.group_count();
    if free_group >= limits.max_bind_groups {
        return Err(format!(
            "{over_limit}; splitting it needs a bind group the kernel does not use, and it \
             uses all {} the adapter has",
            limits.max_bind_groups
        ));
    }
    wgsl.grid_offset_variant()
        .map_err(|why| format!("{over_limit}; splitting it failed: {why}"))?;
    Ok(GridPlan::Split {
        workgroups: workgroups_for(invocations, wgsl.layout.workgroup_size),
        max_per_dimension,
    })
}

/// Slices for a launch whose buffers exceed the storage binding limit, or
/// why it cannot be sliced (see [`Kernel::elementwise`]).
pub(super) fn plan_slices(
    gpu: &GpuContext,
    kernel: &Kernel,
    wgsl: &WgslKernel,
    buffers: &[Arg<'_>],
    invocations: [u32; 3],
) -> std::result::Result<Slices, String> {
    if !kernel.is_elementwise() {
        return Err(
            "only a kernel declared `Kernel::elementwise` can run over slices of it".into(),
        );
    }
    if invocations[1] != 1 || invocations[2] != 1 {
        return Err(format!(
            "an elementwise kernel is sliced over 1-D launches only, not {invocations:?}"
        ));
    }
    let mut strides = Vec::with_capacity(buffers.len());
    for (arg, info) in buffers.iter().zip(&wgsl.layout.buffers) {
        let BindingShape::Runtime {
            header_bytes: 0,
            stride,
        } = info.shape
        else {
            return Err(format!(
                "argument `{}` is not a plain runtime-sized array, so it cannot be sliced",
                info.name
            ));
        };
        let elements = arg.raw().byte_len() / stride;
        if elements < u64::from(invocations[0]) {
            return Err(format!(
                "argument `{}` has {elements} elements, fewer than the launch's {} invocations",
                info.name, invocations[0]
            ));
        }
        strides.push(stride);
    }
    let limits = &gpu.limits;
    let align = u64::from(limits.min_storage_buffer_offset_alignment).max(1);
    let widest = strides.iter().copied().max().unwrap_or(4).max(1);
    // A multiple of the offset alignment in elements keeps every slice's
    // byte offset aligned, whatever the stride.
    let per_slice = (limits.max_storage_buffer_binding_size / widest) / align * align;
    if per_slice == 0 {
        return Err("an element is wider than the binding limit allows".into());
    }
    Ok(Slices {
        per_slice,
        strides,
        first: 0,
        align,
    })
}

/// How a launch reaches the GPU: its grid, and the slices of its buffers
/// when they exceed the storage binding limit.
#[derive(Clone, Debug)]
pub(super) struct GpuPlan {
    /// The grid of the largest dispatch (each slice's, when sliced).
    pub grid: GridPlan,
    pub slices: Option<Slices>,
}

impl GpuPlan {
    /// The whole launch's grid, in workgroups.
    pub fn workgroups(&self, invocations: [u32; 3], workgroup_size: [u32; 3]) -> [u32; 3] {
        match self.slices {
            None => self.grid.workgroups(),
            Some(_) => workgroups_for(invocations, workgroup_size),
        }
    }
}

/// An elementwise launch cut into slices of `per_slice` elements from
/// element `first`; slice `k` binds elements `first + k·per_slice ..` of
/// every buffer (`strides[i]` bytes each).
#[derive(Clone, Debug)]
pub(super) struct Slices {
    pub per_slice: u64,
    pub strides: Vec<u64>,
    /// The first element dispatched: 0, or a split launch's GPU part's
    /// start (a multiple of `align`).
    pub first: u64,
    /// Element counts that keep every buffer's byte offset aligned to the
    /// adapter's storage offset alignment.
    pub align: u64,
}

/// How a launch's grid is dispatched.
#[derive(Clone, Copy, Debug)]
pub(super) enum GridPlan {
    /// One dispatch of these workgroups.
    Single([u32; 3]),
    /// Several dispatches of the kernel's grid-offset variant, covering
    /// `workgroups`, each at most `max_per_dimension` per dimension.
    Split {
        workgroups: [u32; 3],
        max_per_dimension: u32,
    },
}

impl GridPlan {
    /// The same way of dispatching, for `invocations` (a slice's): a split
    /// plan stays split, since the slices share the variant's pipeline.
    pub fn resized(
        self,
        gpu: &GpuContext,
        wgsl: &WgslKernel,
        invocations: [u32; 3],
    ) -> std::result::Result<GridPlan, String> {
        Ok(match self {
            GridPlan::Single(_) => GridPlan::Single(plan_grid(
                invocations,
                wgsl.layout.workgroup_size,
                gpu.limits.max_compute_workgroups_per_dimension,
                wgsl.layout.reads_num_workgroups,
            )?),
            GridPlan::Split {
                max_per_dimension, ..
            } => GridPlan::Split {
                workgroups: workgroups_for(invocations, wgsl.layout.workgroup_size),
                max_per_dimension,
            },
        })
    }

    /// The whole grid, in workgroups.
    pub fn workgroups(self) -> [u32; 3] {
        match self {
            GridPlan::Single(grid) => grid,
            GridPlan::Split { workgroups, .. } => workgroups,
        }
    }
}
