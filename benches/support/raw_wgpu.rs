//! The baseline for "what does the abstraction cost": the same WGSL kernels
//! driven through wgpu by hand, the way wgpu's own compute example does it.
//! Pipeline and bind group are built once; a launch is then encode, one
//! compute pass, submit, wait. Readback copies into a staging buffer and maps
//! it with `map_async`.
//!
//! Shared by the criterion benches and `examples/bench_report.rs` (included
//! with `#[path]`), so both compare against the same code. It panics on any
//! wgpu error: a benchmark baseline that fails has nothing to report.
#![allow(dead_code)]

use std::num::NonZeroU64;

use switchyard::wgpu;
use wgpu::util::DeviceExt;

/// A device of its own on the adapter switchyard chose.
pub struct RawGpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: String,
}

impl RawGpu {
    /// Opens the adapter named `adapter` (as switchyard's `GpuInfo::name`
    /// reports it) on Vulkan, else GL; `None` when neither lists it.
    pub fn open(adapter: &str) -> Option<RawGpu> {
        for backends in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
            descriptor.backends = backends;
            let instance = wgpu::Instance::new(descriptor);
            let adapters = pollster::block_on(instance.enumerate_adapters(backends));
            let Some(found) = adapters.into_iter().find(|a| a.get_info().name == adapter) else {
                continue;
            };
            let (device, queue) =
                pollster::block_on(found.request_device(&wgpu::DeviceDescriptor {
                    label: Some("raw wgpu baseline"),
                    required_limits: found.limits(),
                    ..Default::default()
                }))
                .expect("raw wgpu: request_device");
            return Some(RawGpu {
                device,
                queue,
                adapter: adapter.to_string(),
            });
        }
        None
    }

    /// A storage buffer holding `data`, usable as a copy source and target.
    pub fn storage(&self, data: &[f32]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("raw storage"),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            })
    }

    /// A uniform buffer holding `value`, zero-padded to 16 bytes (uniform
    /// structs are laid out in 16-byte units).
    pub fn uniform<P: bytemuck::Pod>(&self, value: &P) -> wgpu::Buffer {
        let mut contents = bytemuck::bytes_of(value).to_vec();
        contents.resize(contents.len().next_multiple_of(16), 0);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("raw uniform"),
                contents: &contents,
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// A mappable buffer to read `bytes` back through.
    pub fn staging(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("raw staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Compiles `source`'s `main` with an automatic layout.
    pub fn pipeline(&self, label: &str, source: &str) -> wgpu::ComputePipeline {
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
    }

    /// Submits `encoder` and blocks until the GPU has finished it.
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) {
        let index = self.queue.submit([encoder.finish()]);
        self.wait(index);
    }

    fn wait(&self, index: wgpu::SubmissionIndex) {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .expect("raw wgpu: poll");
    }

    pub fn encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("raw") })
    }

    /// Writes `data` into `buffer` and waits until the GPU has it.
    pub fn upload(&self, buffer: &wgpu::Buffer, data: &[u8]) {
        self.queue.write_buffer(buffer, 0, data);
        let index = self.queue.submit([]);
        self.wait(index);
    }

    /// Copies `buffer` into `staging`, maps it and copies it into `out`.
    pub fn readback(&self, buffer: &wgpu::Buffer, staging: &wgpu::Buffer, out: &mut [u8]) {
        let bytes = out.len() as u64;
        let mut encoder = self.encoder();
        encoder.copy_buffer_to_buffer(buffer, 0, staging, 0, bytes);
        let index = self.queue.submit([encoder.finish()]);
        staging.map_async(wgpu::MapMode::Read, 0..bytes, |result| {
            result.expect("raw wgpu: map_async")
        });
        self.wait(index);
        {
            let view = staging
                .get_mapped_range(0..bytes)
                .expect("raw wgpu: mapped range");
            out.copy_from_slice(&view);
        }
        staging.unmap();
    }
}

/// One kernel with its buffers bound: what a hand-written program keeps
/// between launches.
pub struct RawLaunch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl RawLaunch {
    /// Binds `buffers` to bindings 0, 1, … of group 0 (the built-in kernels
    /// declare their uniform first, then their storage buffers).
    pub fn new(
        gpu: &RawGpu,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> RawLaunch {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset: 0,
                    size: NonZeroU64::new(buffer.size()),
                }),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("raw"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        RawLaunch {
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
        }
    }

    /// Records the dispatch as one compute pass.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("raw"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Workgroups for `groups` groups of a 1-D kernel that linearizes its index
/// over `num_workgroups.x` (saxpy): at most 65 535 per dimension.
pub fn fold_groups(groups: u32) -> [u32; 3] {
    const MAX: u32 = 65_535;
    if groups <= MAX {
        [groups, 1, 1]
    } else {
        let y = groups.div_ceil(MAX);
        [groups.div_ceil(y), y, 1]
    }
}
