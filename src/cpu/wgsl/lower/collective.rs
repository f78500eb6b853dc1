//! Operations across lanes: atomics (shared with other threads' workgroups
//! in storage, with the batch's other lanes in workgroup memory) and
//! subgroup operations (over the active lanes of each subgroup of 8).

use naga::{Handle, TypeInner};

use super::expr::{pointee, scalar_type};
use super::types::{self, Refusal};
use super::{Lowered, Lowerer, Lowering, Place, Scope};
use crate::cpu::wgsl::program::{AtomicOp, BinaryOp, Node, Op, Reduction, Reg, Scalar, SubgroupOp};

impl Lowerer<'_> {
    pub(super) fn atomic(
        &mut self,
        scope: &mut Scope<'_>,
        pointer: Handle<naga::Expression>,
        fun: &naga::AtomicFunction,
        value: Handle<naga::Expression>,
        result: Option<Handle<naga::Expression>>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        use naga::AtomicFunction as F;
        let Place::Memory {
            space,
            offset,
            constant,
        } = self.pointer(scope, pointer, out)?
        else {
            return Err(Refusal::from("an atomic outside buffer or workgroup memory").into());
        };
        let TypeInner::Atomic(scalar) = pointee(self, scope, pointer) else {
            return Err(Refusal::from("an atomic operation on a non-atomic").into());
        };
        let scalar = types::scalar_of(scalar)?;
        if scalar.is_wide() {
            return Err(Refusal::from(format!("atomics of {scalar:?} values")).into());
        }
        let signed = scalar == Scalar::I32;
        let value = self.value(scope, value, out)?[0];
        let (op, compare) = match *fun {
            F::Add => (AtomicOp::Add, None),
            F::Subtract => (AtomicOp::Subtract, None),
            F::And => (AtomicOp::And, None),
            F::InclusiveOr => (AtomicOp::InclusiveOr, None),
            F::ExclusiveOr => (AtomicOp::ExclusiveOr, None),
            F::Min => (AtomicOp::Min, None),
            F::Max => (AtomicOp::Max, None),
            F::Exchange { compare: None } => (AtomicOp::Exchange, None),
            F::Exchange {
                compare: Some(compare),
            } => (
                AtomicOp::CompareExchange,
                Some(self.value(scope, compare, out)?[0]),
            ),
        };
        let old = self.register();
        out.push(Node::Op(Op::Atomic {
            space,
            offset,
            delta: constant,
            op,
            signed,
            value,
            compare,
            dst: old,
        }));
        let mut registers = vec![old];
        if let Some(compare) = compare {
            // A strong compare-exchange wrote exactly when the old value
            // was the expected one.
            let exchanged = self.register();
            out.push(Node::Op(Op::Binary {
                op: BinaryOp::Equal,
                ty: Scalar::U32,
                dst: exchanged,
                a: old,
                b: compare,
            }));
            registers.push(exchanged);
        }
        if let Some(result) = result {
            scope.values[result.index()] = Some(Lowered::Value(registers));
        }
        Ok(())
    }

    pub(super) fn ballot(
        &mut self,
        scope: &mut Scope<'_>,
        result: Handle<naga::Expression>,
        predicate: Option<Handle<naga::Expression>>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        let src = match predicate {
            Some(predicate) => self.value(scope, predicate, out)?[0],
            None => self.constant(1),
        };
        let bits = self.register();
        out.push(Node::Op(Op::Subgroup {
            op: SubgroupOp::Ballot,
            ty: Scalar::Bool,
            dst: bits,
            src,
            arg: None,
        }));
        // A subgroup of 8 sets bits of the first word only.
        let zero = self.constant(0);
        scope.values[result.index()] = Some(Lowered::Value(vec![bits, zero, zero, zero]));
        Ok(())
    }

    pub(super) fn collective(
        &mut self,
        scope: &mut Scope<'_>,
        op: naga::SubgroupOperation,
        collective: naga::CollectiveOperation,
        argument: Handle<naga::Expression>,
        result: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        use naga::SubgroupOperation as S;
        let operation = match op {
            S::All => Reduction::All,
            S::Any => Reduction::Any,
            S::Add => Reduction::Add,
            S::Mul => Reduction::Mul,
            S::Min => Reduction::Min,
            S::Max => Reduction::Max,
            S::And => Reduction::And,
            S::Or => Reduction::Or,
            S::Xor => Reduction::Xor,
        };
        let op = match collective {
            naga::CollectiveOperation::Reduce => SubgroupOp::Reduce(operation),
            naga::CollectiveOperation::InclusiveScan => SubgroupOp::Scan {
                operation,
                inclusive: true,
            },
            naga::CollectiveOperation::ExclusiveScan => SubgroupOp::Scan {
                operation,
                inclusive: false,
            },
        };
        self.per_component(scope, op, argument, None, result, out)
    }

    pub(super) fn gather(
        &mut self,
        scope: &mut Scope<'_>,
        mode: &naga::GatherMode,
        argument: Handle<naga::Expression>,
        result: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        use naga::GatherMode as G;
        let (op, index) = match *mode {
            G::BroadcastFirst => (SubgroupOp::BroadcastFirst, None),
            G::Broadcast(index) | G::Shuffle(index) => (SubgroupOp::Gather, Some(index)),
            G::ShuffleDown(delta) => (SubgroupOp::ShuffleDown, Some(delta)),
            G::ShuffleUp(delta) => (SubgroupOp::ShuffleUp, Some(delta)),
            G::ShuffleXor(mask) => (SubgroupOp::ShuffleXor, Some(mask)),
            G::QuadBroadcast(index) => {
                let within = self.value(scope, index, out)?[0];
                let lane = self.quad_lane(within, out);
                return self.per_component(
                    scope,
                    SubgroupOp::Gather,
                    argument,
                    Some(lane),
                    result,
                    out,
                );
            }
            G::QuadSwap(direction) => {
                // A quad is 4 consecutive lanes of a subgroup: swapping is
                // a shuffle by xor with the direction's bits.
                let mask = self.constant(match direction {
                    naga::Direction::X => 1,
                    naga::Direction::Y => 2,
                    naga::Direction::Diagonal => 3,
                });
                return self.per_component(
                    scope,
                    SubgroupOp::ShuffleXor,
                    argument,
                    Some(mask),
                    result,
                    out,
                );
            }
        };
        let arg = match index {
            Some(index) => Some(self.value(scope, index, out)?[0]),
            None => None,
        };
        self.per_component(scope, op, argument, arg, result, out)
    }

    /// The subgroup lane of quad member `within` of each lane's quad:
    /// `(subgroup_invocation_id & !3) | (within & 3)`.
    fn quad_lane(&mut self, within: Reg, out: &mut Vec<Node>) -> Reg {
        let invocation = self.register();
        self.builtins.push((
            invocation,
            crate::cpu::wgsl::program::BuiltinValue::SubgroupInvocationId,
        ));
        let mut binary = |l: &mut Self, op, a, b| {
            let dst = l.register();
            out.push(Node::Op(Op::Binary {
                op,
                ty: Scalar::U32,
                dst,
                a,
                b,
            }));
            dst
        };
        let (quad_mask, member_mask) = (self.constant(!3), self.constant(3));
        let quad = binary(self, BinaryOp::And, invocation, quad_mask);
        let member = binary(self, BinaryOp::And, within, member_mask);
        binary(self, BinaryOp::InclusiveOr, quad, member)
    }

    /// `op` on each leaf of `argument`, into `result`.
    fn per_component(
        &mut self,
        scope: &mut Scope<'_>,
        op: SubgroupOp,
        argument: Handle<naga::Expression>,
        arg: Option<Reg>,
        result: Handle<naga::Expression>,
        out: &mut Vec<Node>,
    ) -> Lowering<()> {
        let mut ty = scalar_type(self, scope, argument)?;
        let reduces = matches!(op, SubgroupOp::Reduce(_) | SubgroupOp::Scan { .. });
        if ty == Scalar::F16 && reduces {
            return Err(Refusal::from("subgroup reductions of f16 values").into());
        }
        if ty.is_wide() {
            if matches!(op, SubgroupOp::Reduce(_) | SubgroupOp::Scan { .. }) {
                return Err(Refusal::from(format!("subgroup reductions of {ty:?} values")).into());
            }
            // Broadcasts and shuffles move words: each word on its own.
            ty = Scalar::U32;
        }
        let values = self.value(scope, argument, out)?;
        let registers = values
            .iter()
            .map(|&src| {
                let dst = self.register();
                out.push(Node::Op(Op::Subgroup {
                    op,
                    ty,
                    dst,
                    src,
                    arg,
                }));
                dst
            })
            .collect();
        scope.values[result.index()] = Some(Lowered::Value(registers));
        Ok(())
    }
}
