//! Grids larger than one dispatch allows, run as several dispatches.
//!
//! A GPU runs at most `max_compute_workgroups_per_dimension` (65 535 on most
//! adapters) workgroups per dimension in one dispatch. A launch over more is
//! split: the runtime makes a variant of the kernel whose entry point adds a
//! per-dispatch offset to `workgroup_id` and `global_invocation_id` and
//! reports the whole grid as `num_workgroups`, then dispatches the grid in
//! pieces ([`grid_pieces`]). Every invocation sees the ids and counts it would
//! have seen in one dispatch of the whole grid, so kernels need no change.
//!
//! The variant ([`with_grid_offset`]) is built on naga's IR: the entry point
//! becomes an ordinary function, and a new entry point with the same name and
//! interface calls it with the adjusted built-ins. The offsets come from one
//! uniform, [`GRID_OFFSET_NAME`], bound at binding 0 of a group of its own
//! after the kernel's groups; its value for each piece is [`grid_offset`].

use std::num::NonZeroU32;

use naga::{
    AddressSpace, ArraySize, BinaryOperator, Binding, BuiltIn, Expression, Function, Handle,
    Module, ResourceBinding, Scalar, Span, Statement, SwizzleComponent, Type, TypeInner,
    VectorSize,
};

/// The name of the variant's offset uniform.
pub(crate) const GRID_OFFSET_NAME: &str = "switchyard_grid_offset";

/// Size of the offset uniform: three `vec4<u32>` (workgroup offset,
/// invocation offset, whole grid).
pub(crate) const GRID_OFFSET_BYTES: u64 = 48;

/// The offset uniform's value for a piece starting at workgroup
/// `workgroup_offset` of a grid of `total` workgroups of `workgroup_size`.
pub(crate) fn grid_offset(
    workgroup_offset: [u32; 3],
    workgroup_size: [u32; 3],
    total: [u32; 3],
) -> Vec<u8> {
    let invocation_offset: [u32; 3] =
        std::array::from_fn(|d| workgroup_offset[d].wrapping_mul(workgroup_size[d]));
    let words: [u32; 12] = [
        workgroup_offset[0],
        workgroup_offset[1],
        workgroup_offset[2],
        0,
        invocation_offset[0],
        invocation_offset[1],
        invocation_offset[2],
        0,
        total[0],
        total[1],
        total[2],
        0,
    ];
    bytemuck::cast_slice(&words).to_vec()
}

/// A grid of `groups` workgroups cut into pieces of at most `max` per
/// dimension, as `(first workgroup, workgroups)`, x fastest.
pub(crate) fn grid_pieces(groups: [u32; 3], max: u32) -> Vec<([u32; 3], [u32; 3])> {
    let max = max.max(1);
    let starts =
        |total: u32| (0..total.div_ceil(max)).map(move |k| (k * max, max.min(total - k * max)));
    let mut pieces = Vec::new();
    for (z, depth) in starts(groups[2]) {
        for (y, height) in starts(groups[1]) {
            for (x, width) in starts(groups[0]) {
                pieces.push(([x, y, z], [width, height, depth]));
            }
        }
    }
    pieces
}

/// `module` with the compute entry point `entry_point` wrapped as the
/// module docs describe, its offset uniform at `@group(group) @binding(0)`.
///
/// # Errors
/// Why the variant cannot be made: no such compute entry point, or naga
/// rejects the result.
pub(crate) fn with_grid_offset(
    module: &Module,
    entry_point: &str,
    group: u32,
) -> Result<Module, String> {
    let mut module = module.clone();
    let index = module
        .entry_points
        .iter()
        .position(|ep| ep.name == entry_point && ep.stage == naga::ShaderStage::Compute)
        .ok_or_else(|| format!("no compute entry point `{entry_point}`"))?;
    let span = Span::UNDEFINED;
    let vec4 = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Vector {
                size: VectorSize::Quad,
                scalar: Scalar::U32,
            },
        },
        span,
    );
    let rows = module.types.insert(
        Type {
            name: None,
            inner: TypeInner::Array {
                base: vec4,
                size: ArraySize::Constant(NonZeroU32::MIN.saturating_add(2)),
                stride: 16,
            },
        },
        span,
    );
    let offsets = module.global_variables.append(
        naga::GlobalVariable {
            name: Some(GRID_OFFSET_NAME.into()),
            space: AddressSpace::Uniform,
            binding: Some(ResourceBinding { group, binding: 0 }),
            ty: rows,
            init: None,
            memory_decorations: naga::MemoryDecorations::empty(),
        },
        span,
    );

    let mut inner = std::mem::take(&mut module.entry_points[index].function);
    let interface = inner.arguments.clone();
    for argument in &mut inner.arguments {
        argument.binding = None;
    }
    inner.name = Some(format!("{entry_point}_unsplit"));
    let inner = module.functions.append(inner, span);

    let mut wrapper = Function {
        name: Some(entry_point.into()),
        arguments: interface.clone(),
        ..Function::default()
    };
    let arguments: Vec<Handle<Expression>> = (0..interface.len())
        .map(|i| {
            wrapper
                .expressions
                .append(Expression::FunctionArgument(i as u32), span)
        })
        .collect();
    let global = wrapper
        .expressions
        .append(Expression::GlobalVariable(offsets), span);

    // Everything below needs emitting; it is appended in one run.
    let mut emitted = Emitted::default();
    let row = |wrapper: &mut Function, emitted: &mut Emitted, k: u32| {
        let pointer = emitted.append(
            wrapper,
            Expression::AccessIndex {
                base: global,
                index: k,
            },
        );
        let value = emitted.append(wrapper, Expression::Load { pointer });
        emitted.append(
            wrapper,
            Expression::Swizzle {
                size: VectorSize::Tri,
                vector: value,
                pattern: [
                    SwizzleComponent::X,
                    SwizzleComponent::Y,
                    SwizzleComponent::Z,
                    SwizzleComponent::X,
                ],
            },
        )
    };
    let workgroup_offset = row(&mut wrapper, &mut emitted, 0);
    let invocation_offset = row(&mut wrapper, &mut emitted, 1);
    let whole_grid = row(&mut wrapper, &mut emitted, 2);
    let adjust = |wrapper: &mut Function,
                  emitted: &mut Emitted,
                  binding: &Option<Binding>,
                  value| {
        let add = |wrapper: &mut Function, emitted: &mut Emitted, offset| {
            emitted.append(
                wrapper,
                Expression::Binary {
                    op: BinaryOperator::Add,
                    left: value,
                    right: offset,
                },
            )
        };
        match binding {
            Some(Binding::BuiltIn(BuiltIn::GlobalInvocationId)) => {
                add(wrapper, emitted, invocation_offset)
            }
            Some(Binding::BuiltIn(BuiltIn::WorkGroupId)) => add(wrapper, emitted, workgroup_offset),
            Some(Binding::BuiltIn(BuiltIn::NumWorkGroups)) => whole_grid,
            _ => value,
        }
    };
    let mut passed = Vec::with_capacity(interface.len());
    for (argument, &value) in interface.iter().zip(&arguments) {
        if argument.binding.is_some() {
            passed.push(adjust(&mut wrapper, &mut emitted, &argument.binding, value));
            continue;
        }
        // A struct of built-ins: rebuilt member by member.
        let TypeInner::Struct { members, .. } = &module.types[argument.ty].inner else {
            passed.push(value);
            continue;
        };
        let mut components = Vec::with_capacity(members.len());
        for (k, member) in members.iter().enumerate() {
            let field = emitted.append(
                &mut wrapper,
                Expression::AccessIndex {
                    base: value,
                    index: k as u32,
                },
            );
            components.push(adjust(&mut wrapper, &mut emitted, &member.binding, field));
        }
        passed.push(emitted.append(
            &mut wrapper,
            Expression::Compose {
                ty: argument.ty,
                components,
            },
        ));
    }
    if let Some(range) = emitted.range() {
        wrapper.body.push(Statement::Emit(range), span);
    }
    wrapper.body.push(
        Statement::Call {
            function: inner,
            arguments: passed,
            result: None,
        },
        span,
    );
    wrapper.body.push(Statement::Return { value: None }, span);
    module.entry_points[index].function = wrapper;

    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|error| format!("the split variant does not validate: {}", error.as_inner()))?;
    Ok(module)
}

/// The first and last expression appended that need an `Emit`.
#[derive(Default)]
struct Emitted {
    first: Option<Handle<Expression>>,
    last: Option<Handle<Expression>>,
}

impl Emitted {
    fn append(&mut self, function: &mut Function, expression: Expression) -> Handle<Expression> {
        let handle = function.expressions.append(expression, Span::UNDEFINED);
        self.first.get_or_insert(handle);
        self.last = Some(handle);
        handle
    }

    fn range(&self) -> Option<naga::Range<Expression>> {
        Some(naga::Range::new_from_bounds(self.first?, self.last?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Module {
        naga::front::wgsl::parse_str(source).expect("test shader parses")
    }

    #[test]
    fn pieces_cover_the_grid_once_within_the_limit() {
        for (groups, max) in [
            ([70_000, 1, 1], 65_535),
            ([5, 7, 3], 2),
            ([131_070, 65_536, 1], 65_535),
            ([1, 1, 1], 65_535),
        ] {
            let pieces = grid_pieces(groups, max);
            let mut covered = 0u64;
            for (start, size) in &pieces {
                for d in 0..3 {
                    assert!(size[d] >= 1 && size[d] <= max);
                    assert!(start[d] + size[d] <= groups[d]);
                }
                covered += size.iter().map(|&s| u64::from(s)).product::<u64>();
            }
            let total: u64 = groups.iter().map(|&g| u64::from(g)).product();
            assert_eq!(covered, total, "{groups:?} / {max}");
        }
        assert_eq!(grid_pieces([70_000, 1, 1], 65_535).len(), 2);
        assert_eq!(grid_pieces([5, 7, 3], 2).len(), 3 * 4 * 2);
    }

    #[test]
    fn the_variant_validates_for_plain_and_struct_built_ins_and_barriers() {
        let sources = [
            "@group(0) @binding(0) var<storage, read_write> v: array<u32>;
             @compute @workgroup_size(64)
             fn main(@builtin(global_invocation_id) g: vec3<u32>) { v[g.x] = g.x; }",
            "struct Ids { @builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_index) l: u32,
                          @builtin(num_workgroups) n: vec3<u32> }
             @group(0) @binding(0) var<storage, read_write> v: array<u32>;
             var<workgroup> tile: array<u32, 64>;
             @compute @workgroup_size(64)
             fn run(ids: Ids, @builtin(global_invocation_id) g: vec3<u32>) {
                 tile[ids.l] = ids.w.x;
                 workgroupBarrier();
                 v[g.x] = tile[63u - ids.l] + ids.n.x;
             }",
        ];
        for (source, entry) in sources.iter().zip(["main", "run"]) {
            let module = parse(source);
            let variant = with_grid_offset(&module, entry, 1).unwrap();
            assert_eq!(variant.entry_points.len(), 1);
            assert_eq!(variant.entry_points[0].name, entry);
            assert!(variant
                .global_variables
                .iter()
                .any(|(_, var)| var.name.as_deref() == Some(GRID_OFFSET_NAME)
                    && var.binding
                        == Some(ResourceBinding {
                            group: 1,
                            binding: 0
                        })));
        }
    }

    #[test]
    fn a_missing_entry_point_is_an_error() {
        let module = parse("@compute @workgroup_size(1) fn main() {}");
        assert!(with_grid_offset(&module, "absent", 0).is_err());
    }

    #[test]
    fn offsets_are_laid_out_as_three_vec4() {
        let bytes = grid_offset([65_535, 2, 0], [64, 1, 1], [70_000, 3, 1]);
        let words: &[u32] = bytemuck::cast_slice(&bytes);
        assert_eq!(bytes.len() as u64, GRID_OFFSET_BYTES);
        assert_eq!(
            words,
            [65_535, 2, 0, 0, 65_535 * 64, 2, 0, 0, 70_000, 3, 1, 0]
        );
    }
}
