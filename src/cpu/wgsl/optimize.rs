//! Clean-ups of a lowered program, between lowering and register reuse:
//! fewer lane operations per batch, the same values in every lane.
//!
//! Lowering writes one operation per naga expression, and naga repeats
//! what WGSL repeats: `y[i] = a * x[i] + y[i]` computes the byte offset of
//! `i` twice, a loop's `k` is copied out of its variable at every use, and
//! `params.n` is loaded, and `arrayLength` taken, in every batch although
//! they are the same for the whole launch. Each costs a pass over every
//! lane of the batch. Four passes, in order:
//!
//! 1. **Variable loads that alias.** A `Copy` out of a variable (naga's
//!    `Load` of a function variable, a snapshot) is dropped, and its reads
//!    read the variable itself, when every read of the copy comes, in the
//!    same block, before anything that may write the variable.
//! 2. **Branches of stores flattened.** An `if` whose sides only compute
//!    values and store them to variables becomes a select per store.
//! 3. **Repeated operations shared.** A pure operation whose operands are
//!    all written once (or never: constants, built-ins) and that repeats one
//!    in the same block or an enclosing one is dropped, and its reads read
//!    the first one's registers.
//! 4. **Launch invariants hoisted.** A pure operation that reads only
//!    constants, the grid size and earlier invariants (uniform loads and
//!    buffer lengths are invariants from nothing) moves to the program's
//!    prologue, which a batch scratch runs once per launch.
//!
//! "Pure" means computed in every lane whatever the active mask, from its
//! operands alone: arithmetic, conversions, selects, offsets, gathers,
//! uniform loads and buffer lengths, never memory that the launch writes,
//! subgroup operations (they look at the mask) or masked writes.
//!
//! Invariants kept: every register the body reads is still written before
//! it is read (in the prologue or by an operation that dominates the read);
//! no operation reads a register it writes; a register written in the
//! prologue is written nowhere else.

use std::collections::HashMap;

use super::program::{Node, Op, Program, Reg, Space, SwitchCase};
use super::registers::{operands, visit, Role};

/// Runs the four passes over `program` (see the module docs).
pub(crate) fn optimize(program: &mut Program) {
    let counts = Counts::of(&program.body);
    let mut aliases = HashMap::new();
    alias_variable_loads(&mut program.body, &counts, &mut aliases);
    substitute_blocks(&mut program.body, &aliases);

    let counts = Counts::of(&program.body);
    flatten_branches(&mut program.body, &counts, &mut program.registers);

    let counts = Counts::of(&program.body);
    let mut shared = HashMap::new();
    share_repeated(
        &mut program.body,
        &counts,
        &mut vec![HashMap::new()],
        &mut shared,
    );
    substitute_blocks(&mut program.body, &shared);

    let counts = Counts::of(&program.body);
    let mut invariant: Vec<bool> = vec![false; program.registers as usize];
    for &(reg, _) in &program.constants {
        mark(&mut invariant, reg);
    }
    for &(reg, value) in &program.builtins {
        if matches!(value, super::program::BuiltinValue::NumWorkgroups(_)) {
            mark(&mut invariant, reg);
        }
    }
    hoist_invariants(
        &mut program.body,
        &counts,
        &mut invariant,
        &mut program.prologue,
    );
}

fn mark(invariant: &mut [bool], reg: Reg) {
    if let Some(slot) = invariant.get_mut(reg as usize) {
        *slot = true;
    }
}

/// How often each register is written (`Write` or `Update`) and read in a
/// program body; conditions and selectors count as reads.
#[derive(Default)]
struct Counts {
    writes: HashMap<Reg, u32>,
    reads: HashMap<Reg, u32>,
}

impl Counts {
    fn of(nodes: &[Node]) -> Counts {
        let mut counts = Counts::default();
        for node in nodes {
            each_register(node, &mut |reg, role| {
                let table = match role {
                    Role::Read => &mut counts.reads,
                    Role::Write | Role::Update => &mut counts.writes,
                };
                *table.entry(reg).or_default() += 1;
                if role == Role::Update {
                    *counts.reads.entry(reg).or_default() += 1;
                }
            });
        }
        counts
    }

    /// Written at most once, so its value never changes once made.
    fn is_single(&self, reg: Reg) -> bool {
        self.writes.get(&reg).copied().unwrap_or(0) <= 1
    }

    fn reads(&self, reg: Reg) -> u32 {
        self.reads.get(&reg).copied().unwrap_or(0)
    }
}

/// Calls `each` for every register `node` names, nested blocks included.
fn each_register(node: &Node, each: &mut impl FnMut(Reg, Role)) {
    match node {
        Node::Op(op) => visit(&mut op.clone(), &mut |reg, role| each(*reg, role)),
        Node::If {
            condition,
            accept,
            reject,
        } => {
            each(*condition, Role::Read);
            accept
                .iter()
                .chain(reject)
                .for_each(|n| each_register(n, each));
        }
        Node::Loop {
            body,
            continuing,
            break_if,
        } => {
            body.iter()
                .chain(continuing)
                .for_each(|n| each_register(n, each));
            if let Some(condition) = break_if {
                each(*condition, Role::Read);
            }
        }
        Node::Switch { selector, cases } => {
            each(*selector, Role::Read);
            cases
                .iter()
                .flat_map(|case| &case.body)
                .for_each(|n| each_register(n, each));
        }
        Node::Function { body } => body.iter().for_each(|n| each_register(n, each)),
        Node::Break | Node::Continue | Node::Return => {}
    }
}

/// Whether the operation computes every lane from its operands alone.
fn is_pure(op: &Op) -> bool {
    match op {
        Op::Copy { .. }
        | Op::Unary { .. }
        | Op::Binary { .. }
        | Op::Math { .. }
        | Op::Ternary { .. }
        | Op::InsertBits { .. }
        | Op::Pack { .. }
        | Op::Unpack { .. }
        | Op::Select { .. }
        | Op::Convert { .. }
        | Op::Offset { .. }
        | Op::Gather { .. }
        | Op::ArrayLength { .. }
        | Op::Wide { .. } => true,
        Op::Load { space, .. } => matches!(space, Space::Uniform(_)),
        Op::MaskedCopy { .. }
        | Op::Subgroup { .. }
        | Op::Store { .. }
        | Op::Scatter { .. }
        | Op::Atomic { .. } => false,
    }
}

/// A pure operation over values that never change, writing registers
/// written nowhere else: the same inputs give it the same result wherever
/// it runs.
fn is_value(op: &Op, counts: &Counts) -> bool {
    if !is_pure(op) {
        return false;
    }
    let (reads, writes) = operands(op);
    reads.iter().all(|&r| counts.is_single(r))
        && writes
            .iter()
            .all(|w| counts.writes.get(w) == Some(&1) && !reads.contains(w))
}

/// The registers an operation writes, in order.
fn destinations(op: &Op) -> Vec<Reg> {
    operands(op).1
}

/// Resolves `reg` through `map`, following chains.
fn resolve(map: &HashMap<Reg, Reg>, mut reg: Reg) -> Reg {
    // A chain is at most as long as the map; a cycle cannot be built (each
    // entry maps a dropped register to a kept one), but is cut anyway.
    for _ in 0..=map.len() {
        match map.get(&reg) {
            Some(&next) if next != reg => reg = next,
            _ => break,
        }
    }
    reg
}

/// Pass 1 over one block and the blocks inside it.
fn alias_variable_loads(nodes: &mut Vec<Node>, counts: &Counts, aliases: &mut HashMap<Reg, Reg>) {
    let mut keep = vec![true; nodes.len()];
    for i in 0..nodes.len() {
        if let Node::Op(Op::Copy { dst, src }) = nodes[i] {
            let variable = resolve(aliases, src);
            if counts.writes.get(&dst) == Some(&1)
                && dst != variable
                && reads_end_before_write(&nodes[i + 1..], dst, variable, counts.reads(dst))
            {
                aliases.insert(dst, variable);
                keep[i] = false;
            }
        }
    }
    retain_kept(nodes, &keep);
    for node in nodes {
        for_each_block(node, &mut |block| {
            alias_variable_loads(block, counts, aliases)
        });
    }
}

/// Whether all `total` reads of `copy` happen in `after` before any node
/// that writes `variable` (a node that does both counts as writing first).
fn reads_end_before_write(after: &[Node], copy: Reg, variable: Reg, total: u32) -> bool {
    let mut seen = 0;
    for node in after {
        if seen == total {
            return true;
        }
        let (mut reads, mut writes) = (0, false);
        each_register(node, &mut |reg, role| {
            if reg == copy && role == Role::Read {
                reads += 1;
            }
            if reg == variable && role != Role::Read {
                writes = true;
            }
        });
        if writes {
            return false;
        }
        seen += reads;
    }
    seen == total
}

/// Pass 2: an `if` whose two sides only compute values and store them to
/// variables (`let hit = a || b` lowers to one per `||`) becomes straight
/// code: the values computed for every lane (as they are anyway), each
/// store a `Select` on the condition and a masked copy. That trades the
/// branch's four or five passes over the mask for one per store.
fn flatten_branches(nodes: &mut Vec<Node>, counts: &Counts, registers: &mut u32) {
    // Each select reads the condition again, so no store may change it
    // (the condition is a snapshot wherever a side writes its variable,
    // see pass 1, so this only guards).
    let flat = |side: &[Node], condition: Reg| {
        side.iter().all(|node| match node {
            Node::Op(Op::MaskedCopy { dst, .. }) => *dst != condition,
            Node::Op(op) => is_value(op, counts),
            _ => false,
        })
    };
    let mut out = Vec::with_capacity(nodes.len());
    for mut node in std::mem::take(nodes) {
        match node {
            Node::If {
                condition,
                ref accept,
                ref reject,
            } if flat(accept, condition) && flat(reject, condition) => {
                for (side, taken) in [(accept, true), (reject, false)] {
                    for inner in side {
                        let Node::Op(op) = inner else { continue };
                        let Op::MaskedCopy { dst, src } = *op else {
                            out.push(inner.clone());
                            continue;
                        };
                        let chosen = *registers;
                        *registers += 1;
                        let (accept, reject) = if taken { (src, dst) } else { (dst, src) };
                        out.push(Node::Op(Op::Select {
                            dst: chosen,
                            cond: condition,
                            accept,
                            reject,
                        }));
                        out.push(Node::Op(Op::MaskedCopy { dst, src: chosen }));
                    }
                }
            }
            _ => {
                for_each_block(&mut node, &mut |block| {
                    flatten_branches(block, counts, registers)
                });
                out.push(node);
            }
        }
    }
    *nodes = out;
}

/// Pass 3: `scopes` holds the values made in the enclosing blocks, the
/// innermost last.
fn share_repeated(
    nodes: &mut Vec<Node>,
    counts: &Counts,
    scopes: &mut Vec<HashMap<Op, Vec<Reg>>>,
    shared: &mut HashMap<Reg, Reg>,
) {
    let mut keep = vec![true; nodes.len()];
    for (i, node) in nodes.iter_mut().enumerate() {
        substitute_node_shallow(node, shared);
        match node {
            Node::Op(op) if is_value(op, counts) => {
                let mut key = op.clone();
                visit(&mut key, &mut |reg, role| {
                    if role == Role::Write {
                        *reg = 0;
                    }
                });
                let mine = destinations(op);
                if let Some(first) = scopes.iter().rev().find_map(|scope| scope.get(&key)) {
                    for (&m, &f) in mine.iter().zip(first) {
                        shared.insert(m, f);
                    }
                    keep[i] = false;
                } else if let Some(scope) = scopes.last_mut() {
                    scope.insert(key, mine);
                }
            }
            Node::Op(_) => {}
            other => for_each_block(other, &mut |block| {
                scopes.push(HashMap::new());
                share_repeated(block, counts, scopes, shared);
                scopes.pop();
            }),
        }
    }
    retain_kept(nodes, &keep);
}

/// Pass 4, in program order.
fn hoist_invariants(
    nodes: &mut Vec<Node>,
    counts: &Counts,
    invariant: &mut [bool],
    prologue: &mut Vec<Op>,
) {
    let mut keep = vec![true; nodes.len()];
    for (i, node) in nodes.iter_mut().enumerate() {
        match node {
            Node::Op(op) => {
                let (reads, writes) = operands(op);
                let from_invariants = reads
                    .iter()
                    .all(|&r| invariant.get(r as usize).copied().unwrap_or(false));
                if is_value(op, counts) && from_invariants {
                    for w in writes {
                        mark(invariant, w);
                    }
                    prologue.push(op.clone());
                    keep[i] = false;
                }
            }
            other => for_each_block(other, &mut |block| {
                hoist_invariants(block, counts, invariant, prologue)
            }),
        }
    }
    retain_kept(nodes, &keep);
}

/// Drops the nodes whose `keep` entry is false.
fn retain_kept(nodes: &mut Vec<Node>, keep: &[bool]) {
    let mut kept = keep.iter();
    nodes.retain(|_| kept.next().copied().unwrap_or(true));
}

/// Calls `each` with every block directly inside `node`, in program order.
fn for_each_block(node: &mut Node, each: &mut impl FnMut(&mut Vec<Node>)) {
    match node {
        Node::If { accept, reject, .. } => {
            each(accept);
            each(reject);
        }
        Node::Loop {
            body, continuing, ..
        } => {
            each(body);
            each(continuing);
        }
        Node::Switch { cases, .. } => cases
            .iter_mut()
            .for_each(|SwitchCase { body, .. }| each(body)),
        Node::Function { body } => each(body),
        Node::Op(_) | Node::Break | Node::Continue | Node::Return => {}
    }
}

/// Replaces the reads of `node` itself (an operation's operands, a
/// condition or selector), not those of the blocks inside it.
fn substitute_node_shallow(node: &mut Node, map: &HashMap<Reg, Reg>) {
    if map.is_empty() {
        return;
    }
    match node {
        Node::Op(op) => visit(op, &mut |reg, role| {
            if role == Role::Read {
                *reg = resolve(map, *reg);
            }
        }),
        Node::If { condition, .. } => *condition = resolve(map, *condition),
        Node::Loop { break_if, .. } => {
            if let Some(condition) = break_if {
                *condition = resolve(map, *condition);
            }
        }
        Node::Switch { selector, .. } => *selector = resolve(map, *selector),
        Node::Function { .. } | Node::Break | Node::Continue | Node::Return => {}
    }
}

/// Replaces every read in `nodes` through `map`.
fn substitute_blocks(nodes: &mut [Node], map: &HashMap<Reg, Reg>) {
    if map.is_empty() {
        return;
    }
    for node in nodes {
        substitute_node_shallow(node, map);
        for_each_block(node, &mut |block| substitute_blocks(block, map));
    }
}

#[cfg(test)]
mod tests {
    use super::super::program::{Node, Op, Program, Space};
    use crate::pipeline::WgslKernel;

    fn program_of(source: &str) -> Program {
        let kernel = WgslKernel::parse("k", source.into(), "main").unwrap();
        super::super::compile(&kernel).unwrap().program
    }

    fn ops(nodes: &[Node], out: &mut Vec<Op>) {
        for node in nodes {
            match node {
                Node::Op(op) => out.push(op.clone()),
                Node::If { accept, reject, .. } => {
                    ops(accept, out);
                    ops(reject, out);
                }
                Node::Loop {
                    body, continuing, ..
                } => {
                    ops(body, out);
                    ops(continuing, out);
                }
                Node::Switch { cases, .. } => cases.iter().for_each(|c| ops(&c.body, out)),
                Node::Function { body } => ops(body, out),
                Node::Break | Node::Continue | Node::Return => {}
            }
        }
    }

    fn body_ops(program: &Program) -> Vec<Op> {
        let mut out = Vec::new();
        ops(&program.body, &mut out);
        out
    }

    const SAXPY: &str = include_str!("../../../shaders/saxpy.wgsl");

    #[test]
    fn uniform_loads_and_buffer_lengths_run_once_per_launch() {
        let program = program_of(SAXPY);
        let invariant = |op: &Op| {
            matches!(
                op,
                Op::Load {
                    space: Space::Uniform(_),
                    ..
                } | Op::ArrayLength { .. }
            )
        };
        assert!(!body_ops(&program).iter().any(invariant));
        assert_eq!(
            program.prologue.iter().filter(|op| invariant(op)).count(),
            4
        );
    }

    #[test]
    fn an_offset_written_three_times_is_computed_once() {
        // `y[i] = a * x[i] + y[i]`: one offset for all three accesses.
        let offsets = body_ops(&program_of(SAXPY))
            .iter()
            .filter(|op| matches!(op, Op::Offset { .. }))
            .count();
        assert_eq!(offsets, 1);
    }

    #[test]
    fn a_short_circuit_chain_is_straight_code() {
        // Each `||` lowers to an `if` storing to a hidden variable; none is
        // left, only the `if` that returns.
        let source = "@group(0) @binding(0) var<storage, read_write> v: array<u32>;\n\
            @compute @workgroup_size(8)\n\
            fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                let x = v[id.x];\n\
                if x == 3u || x > 90u || (x & 4u) != 0u { return; }\n\
                v[id.x] = x + 1u;\n\
            }\n";
        fn branches(nodes: &[Node]) -> usize {
            nodes
                .iter()
                .map(|node| match node {
                    Node::If { accept, reject, .. } => 1 + branches(accept) + branches(reject),
                    Node::Function { body } => branches(body),
                    _ => 0,
                })
                .sum()
        }
        assert_eq!(branches(&program_of(source).body), 1);
    }

    #[test]
    fn a_loop_counter_is_read_in_place_but_a_stale_snapshot_is_copied() {
        let source = "@group(0) @binding(0) var<storage, read_write> v: array<u32>;\n\
            @compute @workgroup_size(8)\n\
            fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                var acc = v[id.x];\n\
                let before = acc;\n\
                for (var k = 0u; k < 4u; k++) { acc = acc * 3u + k; }\n\
                v[id.x] = acc ^ before;\n\
            }\n";
        let copies = body_ops(&program_of(source))
            .iter()
            .filter(|op| matches!(op, Op::Copy { .. }))
            .count();
        // `before` is read after `acc` changes, so it stays a copy; the
        // loads of `k` and `acc` inside the loop read the variables.
        assert_eq!(copies, 1 + 2, "the snapshot, and `acc` and `k` initialised");
    }
}
