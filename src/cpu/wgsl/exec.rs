//! Runs a lowered program over one batch of lanes in lockstep.
//!
//! A batch is one workgroup (when the program shares workgroup memory or
//! meets at barriers) or several whole workgroups. Every lane stands at the
//! same node at the same time; which lanes take part is the active mask.
//! `if` runs each side with the lanes that chose it; `break`, `continue`
//! and `return` move lanes out of the mask into their construct's frame
//! until the construct ends; a loop repeats while any lane is still in it.
//! A barrier needs nothing: every lane of the workgroup has reached it
//! before any lane goes on.
//!
//! Invariants: the mask only loses lanes inside a construct and gets back,
//! at its end, exactly the lanes that were in it and did not leave for an
//! outer construct; register and mask buffers are allocated once per batch
//! scratch and reused, so a launch allocates per worker, not per node.

use std::mem::take;

use super::lanes;
use super::memory::{read_word, Memory, WorkgroupMemory};
use super::program::{BuiltinValue, Node, Op, Program, Space, SwitchCase};

/// Where `break`, `continue` and `return` send lanes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Loop,
    Switch,
    Function,
}

struct Frame {
    kind: FrameKind,
    /// Lanes that left by `break` (loop, switch) or `return` (function).
    exited: Vec<u32>,
    /// Lanes that took `continue` in this iteration (loops only).
    continued: Vec<u32>,
}

/// Which workgroups a batch runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchRange {
    /// The linear index of the batch's first workgroup.
    pub first_workgroup: u64,
    /// How many workgroups it holds (the last batch may hold fewer).
    pub workgroups: u32,
}

/// One worker's scratch: registers, masks and workgroup memory for batches
/// of a fixed lane count.
pub(crate) struct Batch {
    lanes: usize,
    registers: Vec<Vec<u32>>,
    mask: Vec<u32>,
    frames: Vec<Frame>,
    spare_masks: Vec<Vec<u32>>,
    workgroup: WorkgroupMemory,
}

impl Batch {
    /// Scratch for `program` over `lanes` lanes, constants filled in.
    pub(crate) fn new(program: &Program, lanes: usize) -> Batch {
        let mut registers = vec![vec![0u32; lanes]; program.registers as usize];
        for &(register, value) in &program.constants {
            registers[register as usize].fill(value);
        }
        Batch {
            lanes,
            registers,
            mask: vec![0; lanes],
            frames: Vec::new(),
            spare_masks: Vec::new(),
            workgroup: WorkgroupMemory::new(program.workgroup_bytes),
        }
    }

    /// Runs the batch's workgroups of a grid of `grid` workgroups.
    pub(crate) fn run(
        &mut self,
        program: &Program,
        memory: &Memory<'_>,
        grid: [u32; 3],
        range: BatchRange,
    ) {
        self.start(program, grid, range);
        if program.workgroup_bytes > 0 {
            self.workgroup.reset();
        }
        self.block(&program.body, memory);
    }

    /// Fills the built-in registers and the mask for `range`.
    fn start(&mut self, program: &Program, grid: [u32; 3], range: BatchRange) {
        let [sx, sy, sz] = program.workgroup_size.map(|s| s as usize);
        let group_lanes = sx * sy * sz;
        let live_lanes = range.workgroups as usize * group_lanes;
        for (lane, m) in self.mask.iter_mut().enumerate() {
            *m = u32::from(lane < live_lanes);
        }
        let [gx, gy, _] = grid.map(u64::from);
        for &(register, value) in &program.builtins {
            let out = &mut self.registers[register as usize];
            for (lane, slot) in out.iter_mut().enumerate() {
                let group = range.first_workgroup + (lane / group_lanes) as u64;
                let local = lane % group_lanes;
                let local_id = [local % sx, (local / sx) % sy, local / (sx * sy)];
                let group_id = [group % gx, (group / gx) % gy, group / (gx * gy)];
                *slot = match value {
                    BuiltinValue::GlobalId(d) => {
                        (group_id[d] as u32).wrapping_mul(program.workgroup_size[d])
                            + local_id[d] as u32
                    }
                    BuiltinValue::LocalId(d) => local_id[d] as u32,
                    BuiltinValue::LocalIndex => local as u32,
                    BuiltinValue::WorkgroupId(d) => group_id[d] as u32,
                    BuiltinValue::NumWorkgroups(d) => grid[d],
                };
            }
        }
    }

    fn any_active(&self) -> bool {
        self.mask.iter().any(|&m| m != 0)
    }

    fn spare_mask(&mut self) -> Vec<u32> {
        let mut mask = self.spare_masks.pop().unwrap_or_default();
        mask.clear();
        mask.resize(self.lanes, 0);
        mask
    }

    fn block(&mut self, nodes: &[Node], memory: &Memory<'_>) {
        for node in nodes {
            match node {
                Node::Op(op) => self.op(op, memory),
                Node::If {
                    condition,
                    accept,
                    reject,
                } => self.branch(*condition, accept, reject, memory),
                Node::Loop {
                    body,
                    continuing,
                    break_if,
                } => self.repeat(body, continuing, *break_if, memory),
                Node::Switch { selector, cases } => self.switch(*selector, cases, memory),
                Node::Break => self.leave(|k| k != FrameKind::Function, false),
                Node::Continue => self.leave(|k| k == FrameKind::Loop, true),
                Node::Return => self.leave(|k| k == FrameKind::Function, false),
                Node::Function { body } => {
                    self.enter(FrameKind::Function);
                    self.block(body, memory);
                    let frame = self.exit();
                    or_into(&mut self.mask, &frame.exited);
                    self.recycle(frame);
                }
            }
            if !matches!(node, Node::Op(_)) && !self.any_active() {
                return;
            }
        }
    }

    fn enter(&mut self, kind: FrameKind) {
        let exited = self.spare_mask();
        let continued = self.spare_mask();
        self.frames.push(Frame {
            kind,
            exited,
            continued,
        });
    }

    fn exit(&mut self) -> Frame {
        // Every `exit` follows its `enter` in the same call.
        self.frames.pop().unwrap_or_else(|| Frame {
            kind: FrameKind::Function,
            exited: Vec::new(),
            continued: Vec::new(),
        })
    }

    fn recycle(&mut self, frame: Frame) {
        self.spare_masks.push(frame.exited);
        self.spare_masks.push(frame.continued);
    }

    /// Moves the active lanes to the innermost frame `target` accepts.
    fn leave(&mut self, target: impl Fn(FrameKind) -> bool, to_continue: bool) {
        let Some(frame) = self.frames.iter_mut().rev().find(|f| target(f.kind)) else {
            return;
        };
        let into = if to_continue {
            &mut frame.continued
        } else {
            &mut frame.exited
        };
        or_into(into, &self.mask);
        self.mask.fill(0);
    }

    fn branch(&mut self, condition: u32, accept: &[Node], reject: &[Node], memory: &Memory<'_>) {
        let mut rejected = self.spare_mask();
        let cond = &self.registers[condition as usize];
        for ((m, r), &c) in self.mask.iter_mut().zip(&mut rejected).zip(cond) {
            *r = *m & u32::from(c == 0);
            *m &= u32::from(c != 0);
        }
        if self.any_active() {
            self.block(accept, memory);
        }
        if !reject.is_empty() && rejected.iter().any(|&r| r != 0) {
            let mut accepted = self.spare_mask();
            accepted.copy_from_slice(&self.mask);
            self.mask.copy_from_slice(&rejected);
            self.block(reject, memory);
            or_into(&mut self.mask, &accepted);
            self.spare_masks.push(accepted);
        } else {
            or_into(&mut self.mask, &rejected);
        }
        self.spare_masks.push(rejected);
    }

    fn repeat(
        &mut self,
        body: &[Node],
        continuing: &[Node],
        break_if: Option<u32>,
        memory: &Memory<'_>,
    ) {
        self.enter(FrameKind::Loop);
        loop {
            self.block(body, memory);
            if let Some(frame) = self.frames.last_mut() {
                or_into(&mut self.mask, &frame.continued);
                frame.continued.fill(0);
            }
            if !self.any_active() {
                break;
            }
            self.block(continuing, memory);
            if let Some(condition) = break_if {
                let cond = &self.registers[condition as usize];
                if let Some(frame) = self.frames.last_mut() {
                    for ((m, x), &c) in self.mask.iter_mut().zip(&mut frame.exited).zip(cond) {
                        let leaving = *m & u32::from(c != 0);
                        *x |= leaving;
                        *m &= !leaving;
                    }
                }
            }
            if !self.any_active() {
                break;
            }
        }
        let frame = self.exit();
        self.mask.copy_from_slice(&frame.exited);
        self.recycle(frame);
    }

    fn switch(&mut self, selector: u32, cases: &[SwitchCase], memory: &Memory<'_>) {
        let mut entry = self.spare_mask();
        entry.copy_from_slice(&self.mask);
        let mut carried = self.spare_mask();
        self.enter(FrameKind::Switch);
        for case in cases {
            let chosen = case_lanes(case, cases, &self.registers[selector as usize]);
            for (((m, &e), &c), &carry) in
                self.mask.iter_mut().zip(&entry).zip(&chosen).zip(&carried)
            {
                *m = (e & c) | carry;
            }
            if self.any_active() {
                self.block(&case.body, memory);
            }
            if case.fall_through {
                carried.copy_from_slice(&self.mask);
            } else {
                carried.fill(0);
                if let Some(frame) = self.frames.last_mut() {
                    or_into(&mut frame.exited, &self.mask);
                }
            }
        }
        let frame = self.exit();
        self.mask.copy_from_slice(&frame.exited);
        or_into(&mut self.mask, &carried);
        self.recycle(frame);
        self.spare_masks.push(entry);
        self.spare_masks.push(carried);
    }

    fn op(&mut self, op: &Op, memory: &Memory<'_>) {
        let regs = &mut self.registers;
        match op {
            Op::Copy { dst, src } => with_dst(regs, *dst, |d, r| lanes::copy(d, &r[*src as usize])),
            Op::MaskedCopy { dst, src } => {
                let mask = &self.mask;
                with_dst(regs, *dst, |d, r| {
                    lanes::masked_copy(d, &r[*src as usize], mask)
                })
            }
            Op::Unary { op, ty, dst, a } => with_dst(regs, *dst, |d, r| {
                lanes::unary(*op, *ty, d, &r[*a as usize])
            }),
            Op::Binary { op, ty, dst, a, b } => with_dst(regs, *dst, |d, r| {
                lanes::binary(*op, *ty, d, &r[*a as usize], &r[*b as usize])
            }),
            Op::Math { op, ty, dst, a } => {
                with_dst(regs, *dst, |d, r| lanes::math(*op, *ty, d, &r[*a as usize]))
            }
            Op::Ternary { op, ty, dst, args } => with_dst(regs, *dst, |d, r| {
                lanes::ternary(*op, *ty, d, args.map(|a| r[a as usize].as_slice()))
            }),
            Op::InsertBits { dst, args } => with_dst(regs, *dst, |d, r| {
                lanes::insert_bits(d, args.map(|a| r[a as usize].as_slice()))
            }),
            Op::Select {
                dst,
                cond,
                accept,
                reject,
            } => with_dst(regs, *dst, |d, r| {
                lanes::select(
                    d,
                    &r[*cond as usize],
                    &r[*accept as usize],
                    &r[*reject as usize],
                )
            }),
            Op::Convert { dst, src, from, to } => with_dst(regs, *dst, |d, r| {
                lanes::convert(d, &r[*src as usize], *from, *to)
            }),
            Op::Offset {
                dst,
                base,
                dynamic_base,
                terms,
            } => with_dst(regs, *dst, |d, r| {
                for (lane, out) in d.iter_mut().enumerate() {
                    let mut total = u64::from(*base)
                        + dynamic_base.map_or(0, |b| u64::from(r[b as usize][lane]));
                    for term in terms {
                        let raw = r[term.index as usize][lane];
                        let index = match term.clamp_to {
                            Some(len) => u64::from(raw.min(len.saturating_sub(1))),
                            None if term.signed && (raw as i32) < 0 => u64::MAX / 2,
                            None => u64::from(raw),
                        };
                        total = total.saturating_add(index.saturating_mul(u64::from(term.stride)));
                    }
                    *out = u32::try_from(total).unwrap_or(u32::MAX);
                }
            }),
            Op::Load {
                space,
                offset,
                delta,
                dst,
            } => {
                let workgroup = &self.workgroup.words;
                with_dst(regs, *dst, |d, r| {
                    let offsets = offset.map(|o| r[o as usize].as_slice());
                    load(d, memory, workgroup, *space, offsets, *delta)
                })
            }
            Op::Store {
                space,
                offset,
                delta,
                src,
            } => {
                let offsets = offset.map(|o| regs[o as usize].as_slice());
                let values = &regs[*src as usize];
                store(
                    memory,
                    &mut self.workgroup.words,
                    *space,
                    offsets,
                    *delta,
                    values,
                    &self.mask,
                );
            }
            Op::Gather {
                dst,
                index,
                choices,
            } => with_dst(regs, *dst, |d, r| {
                let chosen: Vec<&[u32]> =
                    choices.iter().map(|&c| r[c as usize].as_slice()).collect();
                lanes::gather(d, &r[*index as usize], &chosen)
            }),
            Op::Scatter {
                index,
                targets,
                src,
            } => {
                for (k, &target) in targets.iter().enumerate() {
                    let mask = &self.mask;
                    with_dst(regs, target, |d, r| {
                        lanes::scatter_into(
                            d,
                            k,
                            targets.len(),
                            &r[*index as usize],
                            &r[*src as usize],
                            mask,
                        )
                    });
                }
            }
            Op::ArrayLength {
                dst,
                binding,
                header,
                stride,
            } => {
                let bytes = memory
                    .storage
                    .get(*binding as usize)
                    .map_or(0, |view| view.byte_len());
                let length = bytes.saturating_sub(*header as usize) / (*stride).max(1) as usize;
                regs[*dst as usize].fill(u32::try_from(length).unwrap_or(u32::MAX));
            }
        }
    }
}

/// Runs `write` on register `dst` with the other registers readable.
/// Lowering never makes an operation read the register it writes.
fn with_dst(registers: &mut [Vec<u32>], dst: u32, write: impl FnOnce(&mut [u32], &[Vec<u32>])) {
    let mut out = take(&mut registers[dst as usize]);
    write(&mut out, registers);
    registers[dst as usize] = out;
}

fn or_into(into: &mut [u32], lanes: &[u32]) {
    for (a, &b) in into.iter_mut().zip(lanes) {
        *a |= b;
    }
}

/// The lanes whose selector picks `case` (for `default`: no other case).
fn case_lanes(case: &SwitchCase, cases: &[SwitchCase], selector: &[u32]) -> Vec<u32> {
    selector
        .iter()
        .map(|s| {
            let hit = if case.default {
                !cases.iter().any(|c| c.values.contains(s))
            } else {
                case.values.contains(s)
            };
            u32::from(hit)
        })
        .collect()
}

/// The byte address of lane `lane`'s access, `None` when out of range.
fn address(offsets: Option<&[u32]>, lane: usize, delta: u32) -> Option<usize> {
    let base = offsets.map_or(0, |o| o[lane]);
    if base == u32::MAX {
        return None;
    }
    Some(base as usize + delta as usize)
}

fn load(
    dst: &mut [u32],
    memory: &Memory<'_>,
    workgroup: &[u32],
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
) {
    for (lane, d) in dst.iter_mut().enumerate() {
        let Some(at) = address(offsets, lane, delta) else {
            *d = 0;
            continue;
        };
        *d = match space {
            Space::Storage(n) => memory.storage.get(n as usize).map_or(0, |v| v.load(at)),
            Space::Uniform(n) => memory
                .uniforms
                .get(n as usize)
                .map_or(0, |bytes| read_word(bytes, at)),
            Space::Workgroup => workgroup.get(at / 4).copied().unwrap_or(0),
        };
    }
}

fn store(
    memory: &Memory<'_>,
    workgroup: &mut [u32],
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
    values: &[u32],
    mask: &[u32],
) {
    for (lane, (&value, &m)) in values.iter().zip(mask).enumerate() {
        if m == 0 {
            continue;
        }
        let Some(at) = address(offsets, lane, delta) else {
            continue;
        };
        match space {
            Space::Storage(n) => {
                if let Some(view) = memory.storage.get(n as usize) {
                    view.store(at, value);
                }
            }
            Space::Workgroup => {
                if let Some(word) = workgroup.get_mut(at / 4) {
                    *word = value;
                }
            }
            // naga's validator refuses stores to uniforms.
            Space::Uniform(_) => {}
        }
    }
}
