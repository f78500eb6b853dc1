//! What a WGSL kernel expects, read from naga's IR once per kernel.
//!
//! [`reflect`] parses and validates the source and returns a [`KernelLayout`]:
//! the workgroup size and, for every resource binding, its group, number,
//! access and size shape. Launch arguments are checked against this layout
//! before any GPU work, and the bind group layouts are built from it.

use crate::error::{Access, Error, Result};

/// How big a binding's data must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingShape {
    /// A fixed-size type (a struct, a sized array, a scalar): exactly `bytes`.
    Sized {
        /// The type's size in bytes, as WGSL lays it out.
        bytes: u64,
    },
    /// A runtime-sized array, optionally the last member of a struct:
    /// `header_bytes` followed by any number of `stride`-byte elements.
    Runtime {
        /// Bytes before the array (0 for a bare `array<T>`).
        header_bytes: u64,
        /// The array's element stride.
        stride: u64,
    },
}

/// What a binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingKind {
    /// `var<storage, read>` or `var<storage, read_write>`.
    Storage(Access),
    /// `var<uniform>`.
    Uniform,
}

/// One resource binding of a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingInfo {
    /// `@group(n)`.
    pub group: u32,
    /// `@binding(n)`.
    pub binding: u32,
    /// The variable's name in the shader (`?` if anonymous).
    pub name: String,
    /// Storage or uniform.
    pub kind: BindingKind,
    /// The size the data must have.
    pub shape: BindingShape,
}

/// Everything a launch needs to know about a compiled kernel's interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// `@workgroup_size(x, y, z)`.
    pub workgroup_size: [u32; 3],
    /// Storage bindings in `(group, binding)` order: the order of a launch's
    /// `.read`/`.write` arguments.
    pub buffers: Vec<BindingInfo>,
    /// Uniform bindings in `(group, binding)` order: the order of `.uniform`.
    pub uniforms: Vec<BindingInfo>,
    /// Whether the entry point reads `@builtin(num_workgroups)`; only such a
    /// kernel can linearize a 1-D launch folded into a 2-D grid.
    pub reads_num_workgroups: bool,
    /// Bytes of `var<workgroup>` memory the kernel declares.
    pub workgroup_memory_bytes: u64,
    /// Optional device features the shader uses (64-bit floats and integers,
    /// 16-bit floats, subgroup operations). A GPU without one of them cannot
    /// run the kernel, and the dispatcher routes it to the CPU.
    pub required_features: wgpu::Features,
}

impl KernelLayout {
    /// The highest group index used, plus one.
    pub fn group_count(&self) -> u32 {
        self.buffers
            .iter()
            .chain(&self.uniforms)
            .map(|b| b.group + 1)
            .max()
            .unwrap_or(0)
    }
}

/// Parses and validates `source`, returning the module and `entry_point`'s layout.
///
/// # Errors
/// [`Error::InvalidShader`](crate::Error::InvalidShader) with naga's message (line and column) for a parse
/// or validation failure; [`Error::UnsupportedKernel`](crate::Error::UnsupportedKernel) when the entry point is
/// missing, is not a compute shader, or uses bindings switchyard cannot feed.
pub fn reflect(
    kernel: &str,
    source: &str,
    entry_point: &str,
) -> Result<(naga::Module, KernelLayout)> {
    let module = naga::front::wgsl::parse_str(source).map_err(|e| Error::InvalidShader {
        kernel: kernel.into(),
        message: e.emit_to_string(source),
    })?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| Error::InvalidShader {
        kernel: kernel.into(),
        message: e.emit_to_string(source),
    })?;

    let unsupported = |message: String| Error::UnsupportedKernel {
        kernel: kernel.into(),
        message,
    };
    let (index, entry) = module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == entry_point)
        .ok_or_else(|| {
            let names: Vec<_> = module
                .entry_points
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            unsupported(format!(
                "no entry point `{entry_point}`; the module has: [{}]",
                names.join(", ")
            ))
        })?;
    if entry.stage != naga::ShaderStage::Compute {
        return Err(unsupported(format!(
            "entry point `{entry_point}` is a {:?} shader, not a compute shader",
            entry.stage
        )));
    }
    if entry.workgroup_size_overrides.is_some() {
        return Err(unsupported(
            "a workgroup size set by override constants is not supported yet; use literal sizes"
                .into(),
        ));
    }
    let uses = info.get_entry_point(index);
    let ctx = module.to_ctx();

    let mut buffers = Vec::new();
    let mut uniforms = Vec::new();
    let mut workgroup_memory_bytes = 0;
    for (handle, global) in module.global_variables.iter() {
        if uses[handle].is_empty() {
            continue;
        }
        let name = global.name.clone().unwrap_or_else(|| "?".into());
        let kind = match global.space {
            naga::AddressSpace::Storage { access } => {
                if access.contains(naga::StorageAccess::STORE) {
                    BindingKind::Storage(Access::ReadWrite)
                } else {
                    BindingKind::Storage(Access::Read)
                }
            }
            naga::AddressSpace::Uniform => BindingKind::Uniform,
            naga::AddressSpace::WorkGroup => {
                workgroup_memory_bytes += u64::from(module.types[global.ty].inner.size(ctx));
                continue;
            }
            naga::AddressSpace::Handle => {
                return Err(unsupported(format!(
                    "binding `{name}` is a texture or sampler; only storage and uniform buffers are supported"
                )))
            }
            _ => continue,
        };
        let Some(binding) = &global.binding else {
            continue;
        };
        let shape = shape_of(&module, global.ty);
        let info = BindingInfo {
            group: binding.group,
            binding: binding.binding,
            name,
            kind,
            shape,
        };
        match kind {
            BindingKind::Storage(_) => buffers.push(info),
            BindingKind::Uniform => uniforms.push(info),
        }
    }
    buffers.sort_by_key(|b| (b.group, b.binding));
    uniforms.sort_by_key(|b| (b.group, b.binding));

    let reads_num_workgroups = entry.function.arguments.iter().any(|argument| {
        let is_nwg = |b: &Option<naga::Binding>| {
            matches!(
                b,
                Some(naga::Binding::BuiltIn(naga::BuiltIn::NumWorkGroups))
            )
        };
        if is_nwg(&argument.binding) {
            return true;
        }
        match &module.types[argument.ty].inner {
            naga::TypeInner::Struct { members, .. } => members.iter().any(|m| is_nwg(&m.binding)),
            _ => false,
        }
    });

    let layout = KernelLayout {
        workgroup_size: entry.workgroup_size,
        buffers,
        uniforms,
        reads_num_workgroups,
        workgroup_memory_bytes,
        required_features: required_features(&module, entry),
    };
    Ok((module, layout))
}

/// The optional features a module's types and entry point use.
fn required_features(module: &naga::Module, entry: &naga::EntryPoint) -> wgpu::Features {
    use naga::{ScalarKind, TypeInner};
    let mut features = wgpu::Features::empty();
    for (_, ty) in module.types.iter() {
        let scalar = match &ty.inner {
            TypeInner::Scalar(s) | TypeInner::Atomic(s) => *s,
            TypeInner::Vector { scalar, .. } | TypeInner::Matrix { scalar, .. } => *scalar,
            _ => continue,
        };
        features |= match (scalar.kind, scalar.width) {
            (ScalarKind::Float, 8) => wgpu::Features::SHADER_F64,
            (ScalarKind::Float, 2) => wgpu::Features::SHADER_F16,
            (ScalarKind::Sint | ScalarKind::Uint, 8) => wgpu::Features::SHADER_INT64,
            _ => wgpu::Features::empty(),
        };
    }
    let subgroup_builtin = |binding: &Option<naga::Binding>| {
        matches!(
            binding,
            Some(naga::Binding::BuiltIn(
                naga::BuiltIn::SubgroupSize
                    | naga::BuiltIn::SubgroupInvocationId
                    | naga::BuiltIn::NumSubgroups
                    | naga::BuiltIn::SubgroupId
            ))
        )
    };
    let builtin_args = entry.function.arguments.iter().any(|argument| {
        subgroup_builtin(&argument.binding)
            || match &module.types[argument.ty].inner {
                TypeInner::Struct { members, .. } => {
                    members.iter().any(|m| subgroup_builtin(&m.binding))
                }
                _ => false,
            }
    });
    let subgroup_ops = module
        .functions
        .iter()
        .map(|(_, f)| f)
        .chain(std::iter::once(&entry.function))
        .flat_map(|f| f.expressions.iter())
        .any(|(_, e)| {
            matches!(
                e,
                naga::Expression::SubgroupBallotResult
                    | naga::Expression::SubgroupOperationResult { .. }
            )
        });
    if builtin_args || subgroup_ops {
        features |= wgpu::Features::SUBGROUP;
    }
    features
}

fn shape_of(module: &naga::Module, ty: naga::Handle<naga::Type>) -> BindingShape {
    let ctx = module.to_ctx();
    match &module.types[ty].inner {
        naga::TypeInner::Array {
            size: naga::ArraySize::Dynamic,
            stride,
            ..
        } => BindingShape::Runtime {
            header_bytes: 0,
            stride: u64::from(*stride),
        },
        naga::TypeInner::Struct { members, span } => {
            if let Some(last) = members.last() {
                if let naga::TypeInner::Array {
                    size: naga::ArraySize::Dynamic,
                    stride,
                    ..
                } = module.types[last.ty].inner
                {
                    return BindingShape::Runtime {
                        header_bytes: u64::from(last.offset),
                        stride: u64::from(stride),
                    };
                }
            }
            BindingShape::Sized {
                bytes: u64::from(*span),
            }
        }
        inner => BindingShape::Sized {
            bytes: u64::from(inner.size(ctx)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
struct Params { a: f32, n: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
var<workgroup> tile: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    tile[gid.x % 64u] = x[gid.x].x;
    workgroupBarrier();
    y[gid.x] = params.a * tile[gid.x % 64u] + f32(nwg.x);
}
"#;

    #[test]
    fn reflects_workgroup_size_bindings_in_order_and_builtins() {
        let (_, layout) = reflect("sample", SAMPLE, "main").unwrap();
        assert_eq!(layout.workgroup_size, [64, 1, 1]);
        assert_eq!(layout.buffers.len(), 2);
        assert_eq!(layout.buffers[0].name, "x");
        assert_eq!(layout.buffers[0].kind, BindingKind::Storage(Access::Read));
        assert_eq!(
            layout.buffers[0].shape,
            BindingShape::Runtime {
                header_bytes: 0,
                stride: 16
            }
        );
        assert_eq!(layout.buffers[1].name, "y");
        assert_eq!(
            layout.buffers[1].kind,
            BindingKind::Storage(Access::ReadWrite)
        );
        assert_eq!(layout.uniforms.len(), 1);
        assert_eq!(layout.uniforms[0].shape, BindingShape::Sized { bytes: 8 });
        assert!(layout.reads_num_workgroups);
        assert_eq!(layout.workgroup_memory_bytes, 256);
        assert_eq!(layout.group_count(), 1);
    }

    #[test]
    fn optional_shader_features_are_detected() {
        let (_, plain) = reflect("sample", SAMPLE, "main").unwrap();
        assert_eq!(plain.required_features, wgpu::Features::empty());
        let f64_source = r#"
@group(0) @binding(0) var<storage, read_write> v: array<f64>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { v[id.x] = v[id.x] * 2.0lf; }"#;
        let (_, layout) = reflect("double64", f64_source, "main").unwrap();
        assert_eq!(layout.required_features, wgpu::Features::SHADER_F64);
        let subgroup_source = r#"
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) { v[id.x] = subgroupAdd(v[id.x]); }"#;
        let (_, layout) = reflect("subgroup_sum", subgroup_source, "main").unwrap();
        assert_eq!(layout.required_features, wgpu::Features::SUBGROUP);
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = reflect(
            "broken",
            "@compute @workgroup_size(1) fn main() { let x = ; }",
            "main",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidShader { .. }), "{text}");
        assert!(text.contains("broken") && text.contains(":1:"), "{text}");
    }

    #[test]
    fn type_error_is_an_invalid_shader() {
        let src = "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }";
        assert!(matches!(
            reflect("typed", src, "main"),
            Err(Error::InvalidShader { .. })
        ));
    }

    #[test]
    fn missing_entry_point_names_the_ones_that_exist() {
        let err = reflect("k", SAMPLE, "nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("[main]"), "{err}");
    }

    #[test]
    fn fragment_entry_point_is_refused() {
        let src = "@fragment fn fs() -> @location(0) vec4<f32> { return vec4<f32>(1.0); }";
        let err = reflect("frag", src, "fs").unwrap_err().to_string();
        assert!(err.contains("not a compute shader"), "{err}");
    }

    #[test]
    fn struct_with_trailing_runtime_array_has_a_header() {
        let src = r#"
struct Particles { count: u32, pad: u32, data: array<vec2<f32>> }
@group(0) @binding(0) var<storage, read_write> p: Particles;
@compute @workgroup_size(32) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    if g.x < p.count { p.data[g.x] = vec2<f32>(0.0); }
}"#;
        let (_, layout) = reflect("particles", src, "main").unwrap();
        assert_eq!(
            layout.buffers[0].shape,
            BindingShape::Runtime {
                header_bytes: 8,
                stride: 8
            }
        );
        assert!(!layout.reads_num_workgroups);
    }
}
