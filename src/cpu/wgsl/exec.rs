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
//! A batch with a deadline reads the clock every few hundred loop
//! iterations and, past it, stops where it stands: every node returns at
//! once. (Only loops can run forever: WGSL has no recursion.)
//!
//! Invariants: the mask only loses lanes inside a construct and gets back,
//! at its end, exactly the lanes that were in it and did not leave for an
//! outer construct; register and mask buffers are allocated once per batch
//! scratch and reused, so a launch allocates per worker, not per node.

use std::mem::take;
use std::time::Instant;

use smallvec::SmallVec;

use super::atomics::{atomic, AtomicAccess};
use super::half;
use super::lanes::{self, case_lanes, or_into};
use super::memory::{load, store, Memory, WorkgroupMemory};
use super::program::{BuiltinValue, Node, Op, Program, SwitchCase};
use super::subgroup::{self, SUBGROUP_SIZE};
use super::wide;

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

/// Loop iterations between two reads of the clock: a read costs about
/// 20 ns, an iteration at least a few lane operations.
const LOOPS_PER_CLOCK_READ: u64 = 256;

/// A batch stopped at its deadline.
#[derive(Debug)]
pub(crate) struct Stopped;

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
    /// Workgroups per batch this scratch was made for.
    groups: u32,
    /// Loops check the clock every [`LOOPS_PER_CLOCK_READ`] iterations.
    deadline: Option<Instant>,
    iterations: u64,
    stopped: bool,
    lanes: usize,
    group_lanes: usize,
    grid: [u32; 3],
    /// Each lane's `local_invocation_id`, per dimension.
    local_ids: [Vec<u32>; 3],
    registers: Vec<Vec<u32>>,
    mask: Vec<u32>,
    frames: Vec<Frame>,
    spare_masks: Vec<Vec<u32>>,
    workgroup: WorkgroupMemory,
}

impl Batch {
    /// Scratch for `program` over batches of `groups` workgroups of a grid
    /// of `grid` workgroups: constants and the built-ins that are the same
    /// in every batch (local ids, the grid size) filled in.
    pub(crate) fn new(program: &Program, groups: u32, grid: [u32; 3]) -> Batch {
        let group_lanes = program.workgroup_size.iter().product::<u32>() as usize;
        let lanes = groups as usize * group_lanes;
        let mut registers = vec![vec![0u32; lanes]; program.registers as usize];
        for &(register, value) in &program.constants {
            registers[register as usize].fill(value);
        }
        // Local ids in lane order (x fastest), repeated for each workgroup
        // of the batch: counted, not divided out.
        let [sx, sy, sz] = program.workgroup_size;
        let mut local_ids: [Vec<u32>; 3] = Default::default();
        for _ in 0..groups {
            for z in 0..sz {
                for y in 0..sy {
                    for x in 0..sx {
                        local_ids[0].push(x);
                        local_ids[1].push(y);
                        local_ids[2].push(z);
                    }
                }
            }
        }
        for &(register, value) in &program.builtins {
            let out = &mut registers[register as usize];
            match value {
                BuiltinValue::LocalId(d) => out.copy_from_slice(&local_ids[d]),
                BuiltinValue::LocalIndex => {
                    for (lane, slot) in out.iter_mut().enumerate() {
                        *slot = (lane % group_lanes.max(1)) as u32;
                    }
                }
                BuiltinValue::NumWorkgroups(d) => out.fill(grid[d]),
                BuiltinValue::SubgroupSize => out.fill(SUBGROUP_SIZE as u32),
                BuiltinValue::NumSubgroups => out.fill(group_lanes.div_ceil(SUBGROUP_SIZE) as u32),
                BuiltinValue::SubgroupInvocationId | BuiltinValue::SubgroupId => {
                    let per = matches!(value, BuiltinValue::SubgroupId);
                    for (lane, slot) in out.iter_mut().enumerate() {
                        let local = lane % group_lanes.max(1);
                        *slot = if per {
                            local / SUBGROUP_SIZE
                        } else {
                            local % SUBGROUP_SIZE
                        } as u32;
                    }
                }
                // Per batch, in `start`.
                BuiltinValue::GlobalId(_) | BuiltinValue::WorkgroupId(_) => {}
            }
        }
        Batch {
            groups,
            deadline: None,
            iterations: 0,
            stopped: false,
            lanes,
            group_lanes,
            local_ids,
            registers,
            mask: vec![0; lanes],
            frames: Vec::new(),
            spare_masks: Vec::new(),
            workgroup: WorkgroupMemory::new(program.workgroup_bytes, groups as usize, group_lanes),
            grid,
        }
    }

    /// This scratch made ready for batches of `groups` workgroups of a grid
    /// of `grid` (the same program): reused as it is when the batch shape
    /// matches, with only the grid size written again; else made anew.
    pub(crate) fn reuse(mut self, program: &Program, groups: u32, grid: [u32; 3]) -> Batch {
        if self.groups != groups || self.registers.len() != program.registers as usize {
            return Batch::new(program, groups, grid);
        }
        self.grid = grid;
        for &(register, value) in &program.builtins {
            if let BuiltinValue::NumWorkgroups(d) = value {
                self.registers[register as usize].fill(grid[d]);
            }
        }
        self
    }

    /// Runs the workgroups of `range`, stopping at a loop iteration past
    /// `deadline`.
    ///
    /// # Errors
    /// `Err(Stopped)` when the deadline passed; the batch's writes so far
    /// stay where they went (the caller runs on copies when it set one).
    pub(crate) fn run(
        &mut self,
        program: &Program,
        memory: &Memory<'_>,
        range: BatchRange,
        deadline: Option<Instant>,
    ) -> Result<(), Stopped> {
        self.deadline = deadline;
        self.stopped = false;
        self.start(program, range);
        if program.workgroup_bytes > 0 {
            self.workgroup.reset();
        }
        self.block(&program.body, memory);
        if self.stopped {
            Err(Stopped)
        } else {
            Ok(())
        }
    }

    /// Fills the per-batch built-ins (workgroup and global ids) and the mask
    /// for `range`.
    fn start(&mut self, program: &Program, range: BatchRange) {
        let live_lanes = range.workgroups as usize * self.group_lanes;
        for (lane, m) in self.mask.iter_mut().enumerate() {
            *m = u32::from(lane < live_lanes);
        }
        let [gx, gy, _] = self.grid.map(u64::from);
        let groups = self.lanes / self.group_lanes.max(1);
        for group in 0..groups {
            let linear = range.first_workgroup + group as u64;
            let group_id = [linear % gx, (linear / gx) % gy, linear / (gx * gy)].map(|g| g as u32);
            let lanes = group * self.group_lanes..(group + 1) * self.group_lanes;
            for &(register, value) in &program.builtins {
                let out = &mut self.registers[register as usize][lanes.clone()];
                match value {
                    BuiltinValue::WorkgroupId(d) => out.fill(group_id[d]),
                    BuiltinValue::GlobalId(d) => {
                        let base = group_id[d].wrapping_mul(program.workgroup_size[d]);
                        for (slot, &local) in out.iter_mut().zip(&self.local_ids[d][lanes.clone()])
                        {
                            *slot = base.wrapping_add(local);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn any_active(&self) -> bool {
        lanes::any_set(&self.mask)
    }

    fn spare_mask(&mut self) -> Vec<u32> {
        let mut mask = self.spare_masks.pop().unwrap_or_default();
        mask.clear();
        mask.resize(self.lanes, 0);
        mask
    }

    fn block(&mut self, nodes: &[Node], memory: &Memory<'_>) {
        for node in nodes {
            if self.stopped {
                return;
            }
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
        lanes::split_mask(&mut self.mask, &mut rejected, cond);
        if self.any_active() {
            self.block(accept, memory);
        }
        if !reject.is_empty() && lanes::any_set(&rejected) {
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
            self.iterations += 1;
            if self.iterations.is_multiple_of(LOOPS_PER_CLOCK_READ)
                && self.deadline.is_some_and(|d| Instant::now() >= d)
            {
                self.stopped = true;
            }
            if self.stopped {
                break;
            }
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
                    lanes::leave_where(&mut self.mask, &mut frame.exited, cond);
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

    /// One operation over every lane (the prologue's, by `Compiled`).
    pub(crate) fn op(&mut self, op: &Op, memory: &Memory<'_>) {
        lanes::widest(
            #[inline(always)]
            || self.op_here(op, memory),
        );
    }

    /// One operation, inlined into each of [`lanes::widest`]'s copies (so
    /// no closures here: each would be a function of its own, compiled for
    /// the baseline target).
    #[inline(always)]
    fn op_here(&mut self, op: &Op, memory: &Memory<'_>) {
        let Some(dst) = op.destination() else {
            if let Op::Store {
                space,
                offset,
                delta,
                src,
                half,
            } = op
            {
                let r = &self.registers;
                let offsets = offset.map(|o| r[o as usize].as_slice());
                // Called, not chosen as a function pointer, so each inlines.
                let (wg, values, mask) = (&mut self.workgroup, &r[*src as usize], &self.mask);
                if *half {
                    half::store(memory, wg, *space, offsets, *delta, values, mask);
                } else {
                    store(memory, wg, *space, offsets, *delta, values, mask);
                }
            } else if let Op::Scatter {
                index,
                targets,
                src,
            } = op
            {
                for (k, &target) in targets.iter().enumerate() {
                    let mut d = take(&mut self.registers[target as usize]);
                    let r = &self.registers;
                    lanes::scatter_into(
                        &mut d,
                        k,
                        targets.len(),
                        &r[*index as usize],
                        &r[*src as usize],
                        &self.mask,
                    );
                    self.registers[target as usize] = d;
                }
            } else if let Op::Wide { op, dst, args } = op {
                wide::run(*op, dst, args, &mut self.registers);
            }
            return;
        };
        // Lowering never makes an operation read the register it writes.
        let mut d = take(&mut self.registers[dst as usize]);
        let r = &self.registers;
        let reg = |x: &u32| r[*x as usize].as_slice();
        match op {
            Op::Copy { src, .. } => lanes::copy(&mut d, reg(src)),
            Op::MaskedCopy { src, .. } => lanes::masked_copy(&mut d, reg(src), &self.mask),
            Op::Unary { op, ty, a, .. } => lanes::unary(*op, *ty, &mut d, reg(a)),
            Op::Binary { op, ty, a, b, .. } => lanes::binary(*op, *ty, &mut d, reg(a), reg(b)),
            Op::Math { op, ty, a, .. } => lanes::math(*op, *ty, &mut d, reg(a)),
            Op::Ternary { op, ty, args, .. } => lanes::ternary(
                *op,
                *ty,
                &mut d,
                [reg(&args[0]), reg(&args[1]), reg(&args[2])],
            ),
            Op::InsertBits { args, .. } => lanes::insert_bits(
                &mut d,
                [reg(&args[0]), reg(&args[1]), reg(&args[2]), reg(&args[3])],
            ),
            Op::Select {
                cond,
                accept,
                reject,
                ..
            } => lanes::select(&mut d, reg(cond), reg(accept), reg(reject)),
            Op::Subgroup {
                op, ty, src, arg, ..
            } => subgroup::run(
                *op,
                *ty,
                &mut d,
                reg(src),
                arg.as_ref().map(reg),
                &self.mask,
                self.group_lanes,
            ),
            Op::Pack { packing, args, .. } => {
                let args: SmallVec<[&[u32]; 4]> = args.iter().map(reg).collect();
                lanes::pack(*packing, &mut d, &args);
            }
            Op::Unpack {
                packing,
                component,
                src,
                ..
            } => lanes::unpack(*packing, *component, &mut d, reg(src)),
            Op::Convert { src, from, to, .. } => lanes::convert(&mut d, reg(src), *from, *to),
            Op::Offset {
                base,
                dynamic_base,
                terms,
                ..
            } => {
                lanes::offset_start(&mut d, *base, dynamic_base.as_ref().map(reg));
                for term in terms {
                    lanes::offset_add(&mut d, reg(&term.index), term);
                }
            }
            Op::Load {
                space,
                offset,
                delta,
                half,
                ..
            } => {
                let (offsets, wg) = (offset.as_ref().map(reg), &self.workgroup);
                if *half {
                    half::load(&mut d, memory, wg, *space, offsets, *delta);
                } else {
                    load(&mut d, memory, wg, *space, offsets, *delta);
                }
            }
            Op::Atomic {
                space,
                offset,
                delta,
                op,
                signed,
                value,
                compare,
                ..
            } => {
                let access = AtomicAccess {
                    op: *op,
                    signed: *signed,
                    values: reg(value),
                    compare: compare.as_ref().map(reg),
                    mask: &self.mask,
                };
                let offsets = offset.as_ref().map(reg);
                atomic(
                    &mut d,
                    memory,
                    &mut self.workgroup,
                    *space,
                    offsets,
                    *delta,
                    access,
                );
            }
            Op::Gather { index, choices, .. } => {
                let chosen: SmallVec<[&[u32]; 8]> = choices.iter().map(reg).collect();
                lanes::gather(&mut d, reg(index), &chosen);
            }
            Op::ArrayLength {
                binding,
                header,
                stride,
                ..
            } => {
                let bytes = memory
                    .storage
                    .get(*binding as usize)
                    .map_or(0, |view| view.byte_len());
                let length = bytes.saturating_sub(*header as usize) / (*stride).max(1) as usize;
                d.fill(u32::try_from(length).unwrap_or(u32::MAX));
            }
            Op::Store { .. } | Op::Scatter { .. } | Op::Wide { .. } => {}
        }
        self.registers[dst as usize] = d;
    }
}
