//! Lowering: a validated naga module's entry point into a [`Program`].
//!
//! Lowering walks the entry point's statements once, in order, and writes
//! for each expression the lane operations that compute it into the block
//! where naga evaluates it (its `Emit`). Values become registers, one per
//! scalar leaf; pointers become places: registers (function and private
//! variables, including a per-lane index into them) or a space and byte
//! offset (buffers and workgroup memory). Calls are inlined (WGSL has no
//! recursion), each in a [`Node::Function`] that its `return` leaves.
//!
//! What the executor cannot run is refused here, before any data moves,
//! with the construct and its line: the launch then fails with
//! [`Error::UnsupportedKernel`](crate::Error::UnsupportedKernel) and `Auto`
//! keeps the kernel on the GPU.
//!
//! Invariants: every operation writes a register no operation wrote before
//! (variables excepted: only masked copies and scatters write them, never
//! from themselves); lowering never panics on a module naga validated.

mod collective;
mod expr;
mod math;
mod place;
mod types;
mod wide;

use std::collections::HashMap;

use naga::valid::{FunctionInfo, ModuleInfo};
use naga::{Handle, Module, Statement, TypeInner};

use super::program::{BuiltinValue, Node, Op, Program, Reg, Space, SwitchCase};
use crate::pipeline::KernelLayout;
use types::{Refusal, Types};

/// Inlining deeper than this is refused: WGSL forbids recursion, so only
/// a pathological call chain gets here.
const MAX_CALL_DEPTH: u32 = 64;

/// What an expression lowered to.
#[derive(Clone, Debug)]
enum Lowered {
    /// A value: one register per scalar leaf.
    Value(Vec<Reg>),
    /// A pointer.
    Pointer(Place),
}

/// Where a pointer points.
#[derive(Clone, Debug)]
enum Place {
    /// A variable held in registers. With an `index`, lane `l` addresses
    /// `candidates[min(index[l], len - 1)]`; without, `candidates[0]`.
    Registers {
        index: Option<Reg>,
        candidates: Vec<Vec<Reg>>,
    },
    /// Bytes of a buffer or of workgroup memory: `offset[l] + constant`.
    Memory {
        space: Space,
        offset: Option<Reg>,
        constant: u32,
    },
}

/// A refusal, with the byte offset in the source where the construct
/// starts once known.
#[derive(Debug)]
pub(crate) struct Refused {
    pub what: Refusal,
    pub at: Option<usize>,
}

impl From<Refusal> for Refused {
    fn from(what: Refusal) -> Refused {
        Refused { what, at: None }
    }
}

type Lowering<T> = Result<T, Refused>;

/// One function being lowered: the entry point, or an inlined call.
struct Scope<'f> {
    function: &'f naga::Function,
    info: &'f FunctionInfo,
    values: Vec<Option<Lowered>>,
    locals: Vec<Vec<Reg>>,
    arguments: Vec<Lowered>,
    /// Registers the function's return value goes to.
    result: Option<Vec<Reg>>,
    depth: u32,
}

/// Lowers entry point `entry_index` of `module` (override constants already
/// applied) for a kernel of `layout`.
///
/// # Errors
/// What is not supported, with the source line when naga kept one.
pub(crate) fn lower(
    module: &Module,
    info: &ModuleInfo,
    entry_index: usize,
    layout: &KernelLayout,
) -> Result<Program, Refused> {
    let entry = &module.entry_points[entry_index];
    let mut lowerer = Lowerer {
        module,
        info,
        types: Types { module },
        layout,
        registers: 0,
        constants: Vec::new(),
        constant_registers: HashMap::new(),
        builtins: Vec::new(),
        workgroup: HashMap::new(),
        workgroup_bytes: 0,
        private: HashMap::new(),
        prologue: Vec::new(),
    };
    let arguments = lowerer.entry_arguments(entry)?;
    let mut scope = lowerer.scope(
        &entry.function,
        info.get_entry_point(entry_index),
        arguments,
        0,
    )?;
    let mut body = Vec::new();
    lowerer.init_locals(&mut scope, &mut body)?;
    lowerer.block(&mut scope, &entry.function.body, &mut body)?;
    let mut program_body = std::mem::take(&mut lowerer.prologue);
    program_body.push(Node::Function { body });
    wide::check_lane_ops(&program_body)?;
    Ok(Program {
        registers: lowerer.registers,
        constants: lowerer.constants,
        builtins: lowerer.builtins,
        prologue: Vec::new(),
        body: program_body,
        workgroup_size: entry.workgroup_size,
        workgroup_bytes: lowerer.workgroup_bytes,
    })
}

struct Lowerer<'m> {
    module: &'m Module,
    info: &'m ModuleInfo,
    types: Types<'m>,
    layout: &'m KernelLayout,
    registers: u32,
    constants: Vec<(Reg, u32)>,
    constant_registers: HashMap<u32, Reg>,
    builtins: Vec<(Reg, BuiltinValue)>,
    workgroup: HashMap<Handle<naga::GlobalVariable>, u32>,
    workgroup_bytes: u32,
    private: HashMap<Handle<naga::GlobalVariable>, Vec<Reg>>,
    /// Runs first in every batch: private variables' initial values and
    /// the operations of naga's constant expressions.
    prologue: Vec<Node>,
}

impl<'m> Lowerer<'m> {
    fn register(&mut self) -> Reg {
        self.registers += 1;
        self.registers - 1
    }

    fn registers_for(&mut self, count: usize) -> Vec<Reg> {
        (0..count).map(|_| self.register()).collect()
    }

    fn constant(&mut self, bits: u32) -> Reg {
        if let Some(&reg) = self.constant_registers.get(&bits) {
            return reg;
        }
        let reg = self.register();
        self.constants.push((reg, bits));
        self.constant_registers.insert(bits, reg);
        reg
    }

    fn scope<'f>(
        &mut self,
        function: &'f naga::Function,
        info: &'f FunctionInfo,
        arguments: Vec<Lowered>,
        depth: u32,
    ) -> Lowering<Scope<'f>> {
        let mut locals = Vec::with_capacity(function.local_variables.len());
        for (_, local) in function.local_variables.iter() {
            let leaves = self.types.leaves(self.types.inner(local.ty))?;
            locals.push(self.registers_for(leaves.len()));
        }
        Ok(Scope {
            function,
            info,
            values: vec![None; function.expressions.len()],
            locals,
            arguments,
            result: None,
            depth,
        })
    }

    /// Writes each local variable's initial value (zero when it has none),
    /// at the start of its function: where naga's backends put it.
    fn init_locals(&mut self, scope: &mut Scope<'_>, out: &mut Vec<Node>) -> Lowering<()> {
        for (index, (_, local)) in scope.function.local_variables.iter().enumerate() {
            let value = match local.init {
                Some(init) => self.value(scope, init, out)?,
                None => {
                    let count = scope.locals[index].len();
                    vec![self.constant(0); count]
                }
            };
            for (&dst, &src) in scope.locals[index].iter().zip(&value) {
                out.push(Node::Op(Op::Copy { dst, src }));
            }
        }
        Ok(())
    }

    /// The entry point's arguments: built-in values in registers.
    fn entry_arguments(&mut self, entry: &naga::EntryPoint) -> Lowering<Vec<Lowered>> {
        let mut arguments = Vec::new();
        for argument in &entry.function.arguments {
            let mut registers = Vec::new();
            match (&argument.binding, self.types.inner(argument.ty)) {
                (Some(binding), _) => self.builtin(binding, &mut registers)?,
                (None, TypeInner::Struct { members, .. }) => {
                    for member in members {
                        let binding = member.binding.as_ref().ok_or_else(|| {
                            Refused::from(
                                "an entry point argument member without a binding".to_string(),
                            )
                        })?;
                        self.builtin(binding, &mut registers)?;
                    }
                }
                (None, _) => {
                    return Err(Refusal::from("an entry point argument without a binding").into())
                }
            }
            arguments.push(Lowered::Value(registers));
        }
        Ok(arguments)
    }

    fn builtin(&mut self, binding: &naga::Binding, out: &mut Vec<Reg>) -> Lowering<()> {
        use naga::BuiltIn as B;
        let naga::Binding::BuiltIn(builtin) = binding else {
            return Err(Refusal::from("a user-defined entry point input").into());
        };
        let values: Vec<BuiltinValue> = match builtin {
            B::GlobalInvocationId => (0..3).map(BuiltinValue::GlobalId).collect(),
            B::LocalInvocationId => (0..3).map(BuiltinValue::LocalId).collect(),
            B::LocalInvocationIndex => vec![BuiltinValue::LocalIndex],
            B::WorkGroupId => (0..3).map(BuiltinValue::WorkgroupId).collect(),
            B::NumWorkGroups => (0..3).map(BuiltinValue::NumWorkgroups).collect(),
            B::SubgroupSize => vec![BuiltinValue::SubgroupSize],
            B::SubgroupInvocationId => vec![BuiltinValue::SubgroupInvocationId],
            B::SubgroupId => vec![BuiltinValue::SubgroupId],
            B::NumSubgroups => vec![BuiltinValue::NumSubgroups],
            other => return Err(Refusal::from(format!("the built-in input {other:?}")).into()),
        };
        for value in values {
            let reg = self.register();
            self.builtins.push((reg, value));
            out.push(reg);
        }
        Ok(())
    }

    /// Lowers `block` into `out`.
    fn block(
        &mut self,
        scope: &mut Scope<'_>,
        block: &naga::Block,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        for (statement, span) in block.span_iter() {
            self.statement(scope, statement, out)
                .map_err(|mut refused| {
                    if refused.at.is_none() {
                        refused.at = span.to_range().map(|r| r.start);
                    }
                    refused
                })?;
        }
        Ok(())
    }

    fn statement(
        &mut self,
        scope: &mut Scope<'_>,
        statement: &Statement,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        match statement {
            Statement::Emit(range) => {
                for handle in range.clone() {
                    self.emit(scope, handle, out)?;
                }
            }
            Statement::Block(block) => self.block(scope, block, out)?,
            Statement::If {
                condition,
                accept,
                reject,
            } => {
                let condition = self.value(scope, *condition, out)?[0];
                let mut accept_nodes = Vec::new();
                self.block(scope, accept, &mut accept_nodes)?;
                let mut reject_nodes = Vec::new();
                self.block(scope, reject, &mut reject_nodes)?;
                out.push(Node::If {
                    condition,
                    accept: accept_nodes,
                    reject: reject_nodes,
                });
            }
            Statement::Switch { selector, cases } => {
                let selector = self.value(scope, *selector, out)?[0];
                let mut lowered = Vec::with_capacity(cases.len());
                for case in cases {
                    let mut body = Vec::new();
                    self.block(scope, &case.body, &mut body)?;
                    let (values, default) = match case.value {
                        naga::SwitchValue::I32(v) => (vec![v as u32], false),
                        naga::SwitchValue::U32(v) => (vec![v], false),
                        naga::SwitchValue::Default => (Vec::new(), true),
                    };
                    lowered.push(SwitchCase {
                        values,
                        default,
                        body,
                        fall_through: case.fall_through,
                    });
                }
                out.push(Node::Switch {
                    selector,
                    cases: lowered,
                });
            }
            Statement::Loop {
                body,
                continuing,
                break_if,
            } => {
                let mut body_nodes = Vec::new();
                self.block(scope, body, &mut body_nodes)?;
                let mut continuing_nodes = Vec::new();
                self.block(scope, continuing, &mut continuing_nodes)?;
                let break_if = match break_if {
                    Some(condition) => {
                        Some(self.value(scope, *condition, &mut continuing_nodes)?[0])
                    }
                    None => None,
                };
                out.push(Node::Loop {
                    body: body_nodes,
                    continuing: continuing_nodes,
                    break_if,
                });
            }
            Statement::Break => out.push(Node::Break),
            Statement::Continue => out.push(Node::Continue),
            Statement::Return { value } => {
                if let (Some(value), Some(result)) = (value, scope.result.clone()) {
                    let value = self.value(scope, *value, out)?;
                    for (&dst, &src) in result.iter().zip(&value) {
                        out.push(Node::Op(Op::MaskedCopy { dst, src }));
                    }
                }
                out.push(Node::Return);
            }
            Statement::ControlBarrier(_) | Statement::MemoryBarrier(_) => {
                // Lockstep: every lane of the workgroup is here already.
            }
            Statement::Store { pointer, value } => {
                let place = self.pointer(scope, *pointer, out)?;
                let pointee = expr::pointee(self, scope, *pointer);
                let value = self.value(scope, *value, out)?;
                self.store(&place, &pointee, &value, out)?;
            }
            Statement::WorkGroupUniformLoad { pointer, result } => {
                let place = self.pointer(scope, *pointer, out)?;
                let pointee = expr::pointee(self, scope, *pointer);
                let value = self.load(&place, &pointee, out)?;
                scope.values[result.index()] = Some(Lowered::Value(value));
            }
            Statement::Call {
                function,
                arguments,
                result,
            } => self.call(scope, *function, arguments, *result, out)?,
            Statement::Atomic {
                pointer,
                fun,
                value,
                result,
            } => self.atomic(scope, *pointer, fun, *value, *result, out)?,
            Statement::SubgroupBallot { result, predicate } => {
                self.ballot(scope, *result, *predicate, out)?
            }
            Statement::SubgroupCollectiveOperation {
                op,
                collective_op,
                argument,
                result,
            } => self.collective(scope, *op, *collective_op, *argument, *result, out)?,
            Statement::SubgroupGather {
                mode,
                argument,
                result,
            } => self.gather(scope, mode, *argument, *result, out)?,
            other => return Err(Refusal::from(statement_name(other)).into()),
        }
        Ok(())
    }

    fn call(
        &mut self,
        scope: &mut Scope<'_>,
        function: Handle<naga::Function>,
        arguments: &[Handle<naga::Expression>],
        result: Option<Handle<naga::Expression>>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        if scope.depth >= MAX_CALL_DEPTH {
            return Err(Refusal::from(format!("calls nested deeper than {MAX_CALL_DEPTH}")).into());
        }
        let mut lowered_arguments = Vec::with_capacity(arguments.len());
        for &argument in arguments {
            lowered_arguments.push(self.get(scope, argument, out)?);
        }
        let callee = &self.module.functions[function];
        let mut inner = self.scope(
            callee,
            &self.info[function],
            lowered_arguments,
            scope.depth + 1,
        )?;
        if let (Some(result), Some(declared)) = (result, &callee.result) {
            let leaves = self.types.leaves(self.types.inner(declared.ty))?;
            let registers = self.registers_for(leaves.len());
            inner.result = Some(registers.clone());
            scope.values[result.index()] = Some(Lowered::Value(registers));
        }
        let mut body = Vec::new();
        self.init_locals(&mut inner, &mut body)?;
        self.block(&mut inner, &callee.body, &mut body)?;
        out.push(Node::Function { body });
        Ok(())
    }

    /// Lowers expression `handle` where naga evaluates it.
    fn emit(
        &mut self,
        scope: &mut Scope<'_>,
        handle: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        let lowered = expr::lower(self, scope, handle, out).map_err(|mut refused| {
            if refused.at.is_none() {
                refused.at = scope
                    .function
                    .expressions
                    .get_span(handle)
                    .to_range()
                    .map(|r| r.start);
            }
            refused
        })?;
        scope.values[handle.index()] = Some(lowered);
        Ok(())
    }

    /// What `handle` lowered to; expressions naga never emits (literals,
    /// constants, variables, arguments) are lowered on first use.
    fn get(
        &mut self,
        scope: &mut Scope<'_>,
        handle: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<Lowered> {
        if let Some(lowered) = scope.values.get(handle.index()).and_then(Clone::clone) {
            return Ok(lowered);
        }
        // A constant expression: whatever operations it needs depend on
        // constants only, so they run once per batch, before everything.
        let mut ops = Vec::new();
        let outcome = self.emit(scope, handle, &mut ops);
        self.prologue.extend(ops);
        outcome?;
        let _ = out;
        scope.values[handle.index()]
            .clone()
            .ok_or_else(|| Refusal::from("an expression naga did not evaluate").into())
    }

    fn value(
        &mut self,
        scope: &mut Scope<'_>,
        handle: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<Vec<Reg>> {
        match self.get(scope, handle, out)? {
            Lowered::Value(registers) => Ok(registers),
            Lowered::Pointer(_) => Err(Refusal::from("a pointer used as a value").into()),
        }
    }

    fn pointer(
        &mut self,
        scope: &mut Scope<'_>,
        handle: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<Place> {
        match self.get(scope, handle, out)? {
            Lowered::Pointer(place) => Ok(place),
            Lowered::Value(_) => Err(Refusal::from("a value used as a pointer").into()),
        }
    }
}

fn statement_name(statement: &Statement) -> String {
    let name = match statement {
        Statement::Kill => "`discard`",
        Statement::ImageStore { .. } => "texture stores",
        Statement::ImageAtomic { .. } => "texture atomics",
        Statement::RayQuery { .. } | Statement::RayPipelineFunction(_) => "ray queries",
        Statement::CooperativeStore { .. } => "cooperative matrices",
        _ => "this statement",
    };
    name.to_string()
}
