//! Compiled kernels: reflection, validated WGSL, and the pipeline cache.
//!
//! A kernel's WGSL is parsed and validated once, when the [`Kernel`](crate::Kernel)
//! is made ([`reflect`]); its GPU pipeline is built on first GPU launch and
//! kept in a [`PipelineCache`] keyed by content, so a second launch of the same
//! source, entry point and constants on the same adapter is a hit.
//!
//! Bind group layouts come from the reflected [`KernelLayout`], not from
//! wgpu's automatic layout, so that launch arguments can be checked against
//! exactly what the pipeline will bind.

pub(crate) mod cache;
pub(crate) mod reflect;
pub(crate) mod split;
mod wgsl;

use std::borrow::Cow;

pub use cache::{CacheOutcome, PipelineCacheStats};
pub(crate) use cache::{PipelineCache, PipelineKey};
pub use reflect::{BindingInfo, BindingKind, BindingShape, KernelLayout};
pub(crate) use wgsl::WgslKernel;

use crate::device::GpuContext;
use crate::error::{panic_message, Access, Error, Result};

/// A compute pipeline with the bind group layouts it was built from.
#[derive(Debug)]
pub(crate) struct GpuPipeline {
    pub pipeline: wgpu::ComputePipeline,
    /// One layout per group index `0..layout.group_count()`.
    pub group_layouts: Vec<wgpu::BindGroupLayout>,
}

/// The cache key of `kernel`: its content hash (source, entry point,
/// constants). Each runtime keeps its own cache for its one adapter, so the
/// adapter need not be part of the key (and hashing it on every launch was
/// a visible share of recording one).
pub(crate) fn pipeline_key(kernel: &WgslKernel) -> PipelineKey {
    PipelineKey(*kernel.content_hash.as_bytes())
}

/// Builds the pipeline for `kernel` on `gpu`, inside error scopes.
///
/// # Errors
/// [`Error::Gpu`](crate::Error::Gpu) when wgpu rejects the module or pipeline
/// (e.g. it uses `f64` and the adapter lacks `SHADER_F64`), or device loss;
/// [`Error::UnsupportedKernel`](crate::Error::UnsupportedKernel) when the
/// shader compiler panics on it (naga 30's SPIR-V writer does on some valid
/// modules), which is caught here rather than unwinding into the caller.
pub(crate) fn build_gpu_pipeline(gpu: &GpuContext, kernel: &WgslKernel) -> Result<GpuPipeline> {
    let operation = format!("pipeline creation for kernel `{}`", kernel.name);
    let built = gpu.scoped(&operation, 0, || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            build_inside_scopes(gpu, kernel)
        }))
    })?;
    built.map_err(|payload| Error::UnsupportedKernel {
        kernel: kernel.name.clone(),
        message: format!(
            "the GPU shader compiler failed on it ({})",
            panic_message(payload.as_ref())
        ),
    })
}

fn build_inside_scopes(gpu: &GpuContext, kernel: &WgslKernel) -> GpuPipeline {
    {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&kernel.name),
                source: wgpu::ShaderSource::Naga(Cow::Owned((*kernel.module).clone())),
            });
        let group_layouts: Vec<wgpu::BindGroupLayout> = (0..kernel.layout.group_count())
            .map(|group| {
                let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
                    .layout
                    .buffers
                    .iter()
                    .chain(&kernel.layout.uniforms)
                    .filter(|b| b.group == group)
                    .map(|b| wgpu::BindGroupLayoutEntry {
                        binding: b.binding,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: match b.kind {
                                BindingKind::Storage(access) => wgpu::BufferBindingType::Storage {
                                    read_only: access == Access::Read,
                                },
                                BindingKind::Uniform => wgpu::BufferBindingType::Uniform,
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                gpu.device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some(&kernel.name),
                        entries: &entries,
                    })
            })
            .collect();
        let layout_refs: Vec<Option<&wgpu::BindGroupLayout>> =
            group_layouts.iter().map(Some).collect();
        let pipeline_layout = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&kernel.name),
                bind_group_layouts: &layout_refs,
                immediate_size: 0,
            });
        let constants: Vec<(&str, f64)> = kernel
            .constants
            .iter()
            .map(|(name, value)| (name.as_str(), *value))
            .collect();
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&kernel.name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(&kernel.entry_point),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: gpu.driver_cache.as_ref().map(|c| c.cache()),
            });
        GpuPipeline {
            pipeline,
            group_layouts,
        }
    }
}
