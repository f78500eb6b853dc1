//! Step 3 on the GPU: pipeline, device copies, bind groups, one compute pass.
//!
//! [`run_gpu`] fetches or builds the pipeline (content-keyed cache; the
//! grid-offset variant for split grids), makes each argument's device copy
//! current (uploading only stale data), binds cached uniform buffers and
//! bind groups (one set per slice of a sliced launch), and records one
//! compute pass with a dispatch per slice and grid piece into the pending
//! encoder. A standalone launch then submits and waits; a launch inside a
//! sequence stays recorded and is logged for replay (see `replay`).
//!
//! Invariant: written buffers' residency changes only after the work was
//! recorded (and, standalone, finished), so an error leaves each buffer's
//! previous valid copy in place.

use std::sync::Arc;

use super::plan::{GpuPlan, GridPlan};
use super::replay::{replay_entry, ReplayArgument};
use super::Arg;
use crate::device::{BindGroupKey, BoundBuffer, GpuContext};
use crate::dispatch::Target;
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::{
    build_gpu_pipeline, pipeline_key, split, BindingInfo, CacheOutcome, GpuPipeline, WgslKernel,
};
use crate::shared::RuntimeShared;
use crate::sync::lock;

/// What [`run_gpu`] dispatches.
pub(super) struct GpuLaunch<'a> {
    pub kernel: &'a Kernel,
    pub wgsl: &'a WgslKernel,
    pub uniforms: &'a [Vec<u8>],
    pub invocations: [u32; 3],
    pub plan: &'a GpuPlan,
    /// Submit and wait (a launch of its own), or only record (in a sequence).
    pub wait: bool,
}

/// Records (and unless `!wait`, submits and waits for) one dispatch. A
/// recorded-only launch is logged for replay on the CPU should the device be
/// lost before it finishes (see `replay`).
pub(super) fn run_gpu(
    shared: &Arc<RuntimeShared>,
    gpu: &Arc<GpuContext>,
    launch: &GpuLaunch<'_>,
    buffers: &mut [Arg<'_>],
) -> Result<CacheOutcome> {
    let GpuLaunch {
        kernel,
        wgsl,
        uniforms,
        invocations,
        plan,
        wait,
    } = *launch;
    gpu.check_healthy()?;
    let launch_size = |message: String| Error::LaunchSize {
        kernel: wgsl.name.clone(),
        message,
    };
    // Checked by `gpu_plan`; the error is for a variant gone missing.
    let compiled = match plan.grid {
        GridPlan::Single(_) => wgsl,
        GridPlan::Split { .. } => wgsl
            .grid_offset_variant()
            .map_err(|why| launch_size(why.to_string()))?,
    };
    let key = pipeline_key(compiled, &gpu.info.fingerprint());
    let (pipeline, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, compiled))?;

    let mut device_buffers = Vec::with_capacity(buffers.len());
    let mut logged = Vec::with_capacity(if wait { 0 } else { buffers.len() });
    for arg in buffers.iter() {
        let usage = arg.usage();
        let raw = arg.raw();
        let mut state = lock(&raw.state);
        let (buffer, _) = state.prepare_device(gpu, shared.counters(), usage)?;
        if !wait {
            logged.push(ReplayArgument {
                id: raw.id,
                state: Arc::clone(&raw.state),
                usage,
                generation: state.generation,
            });
        }
        drop(state);
        device_buffers.push(buffer);
    }
    let uniform_buffers = uniforms
        .iter()
        .map(|value| gpu.uniform_buffer(value))
        .collect::<Result<Vec<_>>>()?;

    // Each dispatch group: the byte range of every buffer it binds, and its
    // grid. One group unless the buffers are sliced.
    let whole: Vec<(u64, u64)> = buffers
        .iter()
        .map(|arg| (0, arg.raw().byte_len()))
        .collect();
    let groups: Vec<(Vec<(u64, u64)>, GridPlan)> = match &plan.slices {
        None => vec![(whole, plan.grid)],
        Some(slices) => {
            let total = u64::from(invocations[0]);
            (0..total.div_ceil(slices.per_slice))
                .map(|k| {
                    let start = k * slices.per_slice;
                    let len = slices.per_slice.min(total - start);
                    let ranges = slices
                        .strides
                        .iter()
                        .map(|stride| (start * stride, len * stride))
                        .collect();
                    let grid = plan
                        .grid
                        .resized(gpu, wgsl, [len as u32, 1, 1])
                        .map_err(launch_size)?;
                    Ok((ranges, grid))
                })
                .collect::<Result<_>>()?
        }
    };
    let mut dispatches = Vec::with_capacity(groups.len());
    for (ranges, grid) in groups {
        let bind_groups = kernel_bind_groups(
            gpu,
            &pipeline,
            wgsl,
            &device_buffers,
            &ranges,
            &uniform_buffers,
            uniforms,
        )?;
        dispatches.push((bind_groups, dispatch_pieces(gpu, &pipeline, wgsl, grid)?));
    }
    // Recording needs no error scope of its own: wgpu keeps a pass's
    // errors in the encoder and reports them when it is finished, inside
    // the submission's scopes. What it would reject (grid and binding
    // sizes, access modes) was checked before this point.
    gpu.record(|encoder| {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&wgsl.name),
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        for (bind_groups, pieces) in &dispatches {
            for (group, bind_group) in bind_groups.iter().enumerate() {
                pass.set_bind_group(group as u32, bind_group, &[]);
            }
            for (offset, workgroups) in pieces {
                if let Some(offset) = offset {
                    pass.set_bind_group(wgsl.layout.group_count(), offset, &[]);
                }
                pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
            }
        }
    });
    gpu.check_healthy()?;
    if wait {
        gpu.flush_and_wait(&format!("launch of kernel `{}`", wgsl.name))?;
    }
    for arg in buffers.iter_mut() {
        if let Arg::Write(raw, usage) = arg {
            lock(&raw.state).finish_device(*usage);
        }
    }
    if !wait {
        gpu.log_for_replay(replay_entry(
            kernel.clone(),
            uniforms.to_vec(),
            invocations,
            logged,
            shared.cpu().clone(),
        ));
    }
    Ok(outcome)
}

/// The bind groups of the kernel's own groups, binding `ranges` (offset and
/// length) of `buffers` and the uniforms, from the cache where possible.
fn kernel_bind_groups(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    buffers: &[wgpu::Buffer],
    ranges: &[(u64, u64)],
    uniform_buffers: &[wgpu::Buffer],
    uniforms: &[Vec<u8>],
) -> Result<Vec<wgpu::BindGroup>> {
    let layout = &wgsl.layout;
    let bindings: Vec<(&BindingInfo, &wgpu::Buffer, u64, u64)> = layout
        .buffers
        .iter()
        .zip(buffers)
        .zip(ranges)
        .map(|((info, buffer), &(offset, bytes))| (info, buffer, offset, bytes))
        .chain(
            layout
                .uniforms
                .iter()
                .zip(uniform_buffers)
                .zip(uniforms)
                .map(|((info, buffer), value)| (info, buffer, 0, value.len() as u64)),
        )
        .collect();
    pipeline
        .group_layouts
        .iter()
        .take(layout.group_count() as usize)
        .enumerate()
        .map(|(group, group_layout)| {
            let entries = bindings
                .iter()
                .filter(|(info, ..)| info.group == group as u32)
                .map(|(info, buffer, offset, bytes)| BoundBuffer {
                    binding: info.binding,
                    buffer: (*buffer).clone(),
                    offset: *offset,
                    bytes: *bytes,
                })
                .collect();
            let key = BindGroupKey {
                layout: group_layout.clone(),
                entries,
            };
            gpu.bind_group(key, &wgsl.name)
        })
        .collect()
}

/// The dispatches of `grid`, each with the bind group of its grid offset
/// when the grid is split.
fn dispatch_pieces(
    gpu: &GpuContext,
    pipeline: &GpuPipeline,
    wgsl: &WgslKernel,
    grid: GridPlan,
) -> Result<Vec<(Option<wgpu::BindGroup>, [u32; 3])>> {
    let (workgroups, max_per_dimension) = match grid {
        GridPlan::Single(workgroups) => return Ok(vec![(None, workgroups)]),
        GridPlan::Split {
            workgroups,
            max_per_dimension,
        } => (workgroups, max_per_dimension),
    };
    let group = wgsl.layout.group_count() as usize;
    let offset_layout = pipeline
        .group_layouts
        .get(group)
        .ok_or_else(|| Error::LaunchSize {
            kernel: wgsl.name.clone(),
            message: "the split variant's pipeline lacks its offset group".into(),
        })?;
    split::grid_pieces(workgroups, max_per_dimension)
        .into_iter()
        .map(|(start, size)| {
            let value = split::grid_offset(start, wgsl.layout.workgroup_size, workgroups);
            let buffer = gpu.uniform_buffer(&value)?;
            let key = BindGroupKey {
                layout: offset_layout.clone(),
                entries: vec![BoundBuffer {
                    binding: 0,
                    buffer,
                    offset: 0,
                    bytes: split::GRID_OFFSET_BYTES,
                }],
            };
            Ok((Some(gpu.bind_group(key, &wgsl.name)?), size))
        })
        .collect()
}

/// [`Runtime::prepare_gpu`](crate::Runtime::prepare_gpu): the pipeline lookup
/// of [`run_gpu`], without a launch.
pub(crate) fn prepare_pipeline(
    shared: &Arc<RuntimeShared>,
    kernel: &Kernel,
) -> Result<CacheOutcome> {
    let unavailable = |reason: String| Error::TargetUnavailable {
        kernel: kernel.name().into(),
        target: Target::Gpu,
        reason,
    };
    let gpu = shared
        .gpu()
        .ok_or_else(|| unavailable(shared.gpu_absent_reason().to_string()))?;
    gpu.check_healthy()?;
    let wgsl = kernel
        .wgsl_part()
        .ok_or_else(|| unavailable("the kernel has no WGSL".into()))?;
    let missing = kernel.required_features().difference(gpu.features);
    if !missing.is_empty() {
        return Err(unavailable(format!("the adapter lacks {missing:?}")));
    }
    let key = pipeline_key(wgsl, &gpu.info.fingerprint());
    let (_, outcome) = shared
        .pipelines()
        .get_or_build(key, || build_gpu_pipeline(gpu, wgsl))?;
    Ok(outcome)
}
