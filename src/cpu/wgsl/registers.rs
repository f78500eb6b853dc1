//! Register reuse: renumbers a lowered program so that registers whose
//! values are dead hold later values, shrinking the register file a batch
//! streams through (nbody's inner loop: from 118 registers to a few dozen,
//! so a batch's working set stays in the core's caches).
//!
//! Lowering gives every expression a register of its own. A value lives
//! from the operation that writes it to its last read, in program order;
//! a read inside a loop that the value was written before keeps it alive
//! to the loop's end, since every iteration reads it again. Registers that
//! are written more than once (variables: masked copies, scatters,
//! initial values), constants, built-ins and the prologue's values live
//! for the whole program.
//! The rest are assigned by a linear scan, a register becoming free only
//! strictly after its last read, so no operation writes a register it reads.
//! (A switch's selector is read again by each case as it is reached, so it
//! lives to the switch's end.)

use std::collections::HashMap;

use super::program::{Node, Op, Program, Reg};

/// How an operation uses one of its registers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Read,
    Write,
    /// Written where the mask allows and kept elsewhere (masked copies,
    /// scatters): read and written.
    Update,
}

/// Calls `each` with every register `op` names and how it uses it.
pub(super) fn visit(op: &mut Op, each: &mut impl FnMut(&mut Reg, Role)) {
    use Role::{Read, Update, Write};
    match op {
        Op::Copy { dst, src } | Op::Convert { dst, src, .. } => {
            each(src, Read);
            each(dst, Write);
        }
        Op::MaskedCopy { dst, src } => {
            each(src, Read);
            each(dst, Update);
        }
        Op::Unary { dst, a, .. } | Op::Math { dst, a, .. } => {
            each(a, Read);
            each(dst, Write);
        }
        Op::Binary { dst, a, b, .. } => {
            each(a, Read);
            each(b, Read);
            each(dst, Write);
        }
        Op::Ternary { dst, args, .. } => {
            args.iter_mut().for_each(|a| each(a, Read));
            each(dst, Write);
        }
        Op::InsertBits { dst, args } => {
            args.iter_mut().for_each(|a| each(a, Read));
            each(dst, Write);
        }
        Op::Pack { dst, args, .. } => {
            args.iter_mut().for_each(|a| each(a, Read));
            each(dst, Write);
        }
        Op::Unpack { dst, src, .. } => {
            each(src, Read);
            each(dst, Write);
        }
        Op::Subgroup { dst, src, arg, .. } => {
            each(src, Read);
            arg.iter_mut().for_each(|a| each(a, Read));
            each(dst, Write);
        }
        Op::Select {
            dst,
            cond,
            accept,
            reject,
        } => {
            each(cond, Read);
            each(accept, Read);
            each(reject, Read);
            each(dst, Write);
        }
        Op::Offset {
            dst,
            dynamic_base,
            terms,
            ..
        } => {
            dynamic_base.iter_mut().for_each(|b| each(b, Read));
            terms.iter_mut().for_each(|t| each(&mut t.index, Read));
            each(dst, Write);
        }
        Op::Load { offset, dst, .. } => {
            offset.iter_mut().for_each(|o| each(o, Read));
            each(dst, Write);
        }
        Op::Store { offset, src, .. } => {
            offset.iter_mut().for_each(|o| each(o, Read));
            each(src, Read);
        }
        Op::Gather {
            dst,
            index,
            choices,
        } => {
            each(index, Read);
            choices.iter_mut().for_each(|c| each(c, Read));
            each(dst, Write);
        }
        Op::Scatter {
            index,
            targets,
            src,
        } => {
            each(index, Read);
            each(src, Read);
            targets.iter_mut().for_each(|t| each(t, Update));
        }
        Op::Atomic {
            offset,
            value,
            compare,
            dst,
            ..
        } => {
            offset.iter_mut().for_each(|o| each(o, Read));
            each(value, Read);
            compare.iter_mut().for_each(|c| each(c, Read));
            each(dst, Write);
        }
        Op::ArrayLength { dst, .. } => each(dst, Write),
        Op::Wide { dst, args, .. } => {
            args.iter_mut().flatten().for_each(|a| each(a, Read));
            dst.iter_mut().for_each(|d| each(d, Write));
        }
    }
}

/// The registers an operation reads, and those it writes.
pub(super) fn operands(op: &Op) -> (Vec<Reg>, Vec<Reg>) {
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    visit(&mut op.clone(), &mut |reg, role| {
        if role != Role::Write {
            reads.push(*reg);
        }
        if role != Role::Read {
            writes.push(*reg);
        }
    });
    (reads, writes)
}

/// Where each register is written and last read.
#[derive(Default)]
struct Lifetimes {
    position: usize,
    writes: HashMap<Reg, (usize, u32)>,
    last_read: HashMap<Reg, usize>,
    /// Per open loop: its first position, and the registers read inside it
    /// that were written before it.
    loops: Vec<(usize, Vec<Reg>)>,
}

impl Lifetimes {
    fn read(&mut self, reg: Reg) {
        let at = self.position;
        let end = self.last_read.entry(reg).or_insert(at);
        *end = (*end).max(at);
        let written = self.writes.get(&reg).map_or(0, |&(first, _)| first);
        for (start, carried) in &mut self.loops {
            if written < *start {
                carried.push(reg);
            }
        }
    }

    fn write(&mut self, reg: Reg) {
        let at = self.position;
        let entry = self.writes.entry(reg).or_insert((at, 0));
        entry.1 += 1;
    }

    fn walk(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.position += 1;
            match node {
                Node::Op(op) => {
                    let (reads, writes) = operands(op);
                    for reg in reads {
                        self.read(reg);
                    }
                    for reg in writes {
                        self.write(reg);
                    }
                }
                Node::If {
                    condition,
                    accept,
                    reject,
                } => {
                    self.read(*condition);
                    self.walk(accept);
                    self.walk(reject);
                }
                Node::Loop {
                    body,
                    continuing,
                    break_if,
                } => {
                    self.loops.push((self.position, Vec::new()));
                    self.walk(body);
                    self.walk(continuing);
                    if let Some(condition) = break_if {
                        self.read(*condition);
                    }
                    self.position += 1;
                    let end = self.position;
                    if let Some((_, carried)) = self.loops.pop() {
                        for reg in carried {
                            let last = self.last_read.entry(reg).or_insert(end);
                            *last = (*last).max(end);
                        }
                    }
                }
                Node::Switch { selector, cases } => {
                    self.read(*selector);
                    for case in cases {
                        self.walk(&case.body);
                    }
                    // Each case reads the selector when it is reached.
                    self.position += 1;
                    self.read(*selector);
                }
                Node::Function { body } => self.walk(body),
                Node::Break | Node::Continue | Node::Return => {}
            }
        }
    }
}

/// Renumbers `program`'s registers so dead values' registers are reused.
pub(crate) fn reuse_registers(program: &mut Program) {
    let mut lifetimes = Lifetimes::default();
    lifetimes.walk(&program.body);
    let mut pinned: Vec<Reg> = program
        .constants
        .iter()
        .map(|&(reg, _)| reg)
        .chain(program.builtins.iter().map(|&(reg, _)| reg))
        .chain(program.prologue.iter().flat_map(|op| operands(op).1))
        .collect();
    pinned.extend(
        lifetimes
            .writes
            .iter()
            .filter(|(_, &(_, count))| count > 1)
            .map(|(&reg, _)| reg),
    );
    // A register read but never written (a variable's initial zero that
    // lowering aliased, say) is pinned too: whatever it holds must stay.
    pinned.extend(
        lifetimes
            .last_read
            .keys()
            .filter(|reg| !lifetimes.writes.contains_key(reg)),
    );
    pinned.sort_unstable();
    pinned.dedup();

    let mut mapping: HashMap<Reg, Reg> = HashMap::new();
    let mut next: Reg = 0;
    for &reg in &pinned {
        mapping.insert(reg, next);
        next += 1;
    }
    let mut intervals: Vec<(usize, usize, Reg)> = lifetimes
        .writes
        .iter()
        .filter(|(reg, _)| !mapping.contains_key(reg))
        .map(|(&reg, &(first, _))| {
            let last = lifetimes.last_read.get(&reg).copied().unwrap_or(first);
            (first, last.max(first), reg)
        })
        .collect();
    intervals.sort_unstable();
    let mut free: Vec<Reg> = Vec::new();
    let mut active: Vec<(usize, Reg)> = Vec::new();
    for (start, end, reg) in intervals {
        active.retain(|&(active_end, physical)| {
            if active_end < start {
                free.push(physical);
                false
            } else {
                true
            }
        });
        let physical = free.pop().unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        mapping.insert(reg, physical);
        active.push((end, physical));
    }
    let map = |reg: &mut Reg| {
        // Every register of the program is in `mapping`: it is written, read
        // or pinned.
        if let Some(&physical) = mapping.get(reg) {
            *reg = physical;
        }
    };
    renumber(&mut program.body, &map);
    for op in &mut program.prologue {
        renumber_op(op, &map);
    }
    for (reg, _) in &mut program.constants {
        map(reg);
    }
    for (reg, _) in &mut program.builtins {
        map(reg);
    }
    program.registers = next;
}

fn renumber(nodes: &mut [Node], map: &impl Fn(&mut Reg)) {
    for node in nodes {
        match node {
            Node::Op(op) => renumber_op(op, map),
            Node::If {
                condition,
                accept,
                reject,
            } => {
                map(condition);
                renumber(accept, map);
                renumber(reject, map);
            }
            Node::Loop {
                body,
                continuing,
                break_if,
            } => {
                renumber(body, map);
                renumber(continuing, map);
                if let Some(condition) = break_if {
                    map(condition);
                }
            }
            Node::Switch { selector, cases } => {
                map(selector);
                for case in cases {
                    renumber(&mut case.body, map);
                }
            }
            Node::Function { body } => renumber(body, map),
            Node::Break | Node::Continue | Node::Return => {}
        }
    }
}

fn renumber_op(op: &mut Op, map: &impl Fn(&mut Reg)) {
    visit(op, &mut |reg, _| map(reg));
}

#[cfg(test)]
mod tests {
    use crate::pipeline::WgslKernel;

    fn registers_of(source: &str) -> u32 {
        let kernel = WgslKernel::parse("k", source.into(), "main").unwrap();
        super::super::compile(&kernel).unwrap().program.registers
    }

    #[test]
    fn dead_values_give_their_registers_to_later_ones() {
        // Twenty independent temporaries, each dead before the next is made:
        // a handful of registers, not twenty.
        let mut body = String::new();
        for i in 0..20 {
            body.push_str(&format!("    acc = acc * {i}u + (v[id.x] ^ {i}u);\n"));
        }
        let source = format!(
            "@group(0) @binding(0) var<storage, read_write> v: array<u32>;\n\
             @compute @workgroup_size(64)\n\
             fn main(@builtin(global_invocation_id) id: vec3<u32>) {{\n\
                 var acc = 0u;\n{body}    v[id.x] = acc;\n}}\n"
        );
        let used = registers_of(&source);
        // 20 constants, 3 built-ins, the variable, and a few temporaries.
        assert!(used < 20 + 3 + 1 + 12, "{used} registers");
    }

    #[test]
    fn a_value_read_in_a_loop_outlives_the_loop() {
        // `base` is written before the loop and read in every iteration: a
        // temporary of the loop body must not take its register.
        let source = "@group(0) @binding(0) var<storage, read_write> v: array<u32>;\n\
            @compute @workgroup_size(8)\n\
            fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                let base = v[id.x] * 3u;\n\
                var acc = 0u;\n\
                for (var i = 0u; i < 4u; i++) { let t = i * 7u + 1u; acc += t ^ base; }\n\
                v[id.x] = acc;\n\
            }\n";
        let kernel = WgslKernel::parse("k", source.into(), "main").unwrap();
        let compiled = super::super::compile(&kernel).unwrap();
        // Run it on the executor and check the arithmetic.
        let mut data: Vec<u32> = (0..8).collect();
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut data);
        super::super::run(
            &compiled,
            "k",
            vec![crate::cpu::CpuSlot::Write(Some(bytes))],
            &[],
            [8, 1, 1],
            true,
            None,
        )
        .unwrap();
        let expected: Vec<u32> = (0..8u32)
            .map(|x| (0..4u32).map(|i| (i * 7 + 1) ^ (x * 3)).sum())
            .collect();
        assert_eq!(data, expected);
    }
}
