//! The WGSL executor: a kernel's own compute shader, run on the CPU pool
//! with no Rust twin.
//!
//! The shape is naga's back ends': one more writer over the same validated
//! IR, whose target is a [`Program`] of lane operations instead of SPIR-V.
//!
//! - `lower`: the entry point → a [`Program`], once per kernel (the kernel
//!   keeps it); what cannot run here is refused with its line.
//! - `program`: the lowered form, registers and structured nodes.
//! - `exec`: one batch of lanes (a workgroup or several) in lockstep.
//! - `optimize`: variable loads aliased, repeated operations shared and
//!   launch invariants hoisted into a prologue, before register reuse.
//! - `registers`: renumbering so dead values' registers are reused.
//! - `lanes`: the lane loops of each operation.
//! - `memory`: the launch's buffers as the program reaches them.
//! - `access`: the shape of an access over the lanes (runs, one address,
//!   8-lane pieces) and its loops.
//! - `atomics`: atomic read-modify-writes on storage and workgroup words.
//! - `semantics`: WGSL's scalar rules where Rust's differ.
//! - `subgroup`: subgroup operations over a batch's lanes (subgroups of 8).
//! - `wide`: operations on `i64`, `u64` and `f64` (two registers each).
//! - `half`: `f16` rounding and half-word loads and stores.
//!
//! [`run`] takes the same host copies a twin receives, splits the grid into
//! batches of whole workgroups and spreads them over the runtime's pool.
//!
//! Invariants: a lowered program never panics on any input data (indices
//! are bounds-checked as the GPU's robust buffer access does, arithmetic is
//! total); the memory a launch can touch is exactly its bindings.

mod access;
mod atomics;
mod exec;
mod half;
mod lanes;
mod lower;
mod memory;
mod optimize;
mod program;
mod registers;
mod semantics;
mod subgroup;
mod wide;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::cpu::CpuSlot;
use crate::error::{Error, Result};
use crate::pipeline::WgslKernel;
use crate::sync::lock;
use exec::{Batch, BatchRange};
use memory::{atomic_words, Memory, PaddedCopy, StorageView};
use program::Program;

/// A kernel's WGSL lowered for the executor, with the scratch of earlier
/// launches kept for the next (allocating and filling a batch's registers
/// was half the time of a 1024-element launch).
pub(crate) struct Compiled {
    program: Program,
    /// At most [`KEPT_SCRATCH`] batches' scratch, each
    /// `registers × lanes × 4` bytes plus workgroup memory.
    scratch: Mutex<Vec<Batch>>,
}

/// Scratches kept between launches: one per worker of a pool of this size.
const KEPT_SCRATCH: usize = 16;

impl Compiled {
    /// A batch scratch for `groups` workgroups of `grid`, reused if one is kept.
    /// Its launch invariants (the program's prologue) are computed for
    /// this launch's `memory`.
    fn lease(&self, groups: u32, grid: [u32; 3], memory: &Memory<'_>) -> Lease<'_> {
        let kept = lock(&self.scratch).pop();
        let mut batch = match kept {
            Some(batch) => batch.reuse(&self.program, groups, grid),
            None => Batch::new(&self.program, groups, grid),
        };
        for op in &self.program.prologue {
            batch.op(op, memory);
        }
        Lease {
            batch: Some(batch),
            home: &self.scratch,
        }
    }
}

/// A batch scratch on loan from a [`Compiled`]; given back when dropped.
struct Lease<'a> {
    batch: Option<Batch>,
    home: &'a Mutex<Vec<Batch>>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            let mut kept = lock(self.home);
            if kept.len() < KEPT_SCRATCH {
                kept.push(batch);
            }
        }
    }
}

/// Lanes a batch aims for when workgroups can share one: enough that each
/// operation's loop amortises its dispatch, few enough that the registers
/// of a long kernel stay in the core's caches.
const TARGET_BATCH_LANES: u32 = 512;

/// Launches of less work run on the calling thread: handing work to the
/// pool costs more than they compute.
const INLINE_BELOW_WORK: u64 = 8192;

/// Lowers `wgsl`'s entry point, its override constants applied.
///
/// # Errors
/// Why the executor cannot run it: the construct and its line.
pub(crate) fn compile(wgsl: &WgslKernel) -> std::result::Result<Compiled, String> {
    lower_entry_point(wgsl).map(|program| Compiled {
        program,
        scratch: Mutex::default(),
    })
}

fn lower_entry_point(wgsl: &WgslKernel) -> std::result::Result<Program, String> {
    let source = wgsl.source();
    let validate = |module: &naga::Module| {
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(module)
        .map_err(|e| format!("naga rejected the module: {e}"))
    };
    let info = validate(&wgsl.module)?;
    let (module, info) = if wgsl.module.overrides.is_empty() {
        (
            std::borrow::Cow::Borrowed(&*wgsl.module),
            std::borrow::Cow::Owned(info),
        )
    } else {
        let mut constants = naga::back::PipelineConstants::default();
        for (name, value) in &wgsl.constants {
            constants.insert(name.clone(), *value);
        }
        let entry = Some((naga::ShaderStage::Compute, wgsl.entry_point.as_str()));
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &wgsl.module,
            &info,
            entry,
            &constants,
        )
        .map_err(|e| format!("its override constants cannot be applied: {e}"))?;
        (
            std::borrow::Cow::Owned(module.into_owned()),
            std::borrow::Cow::Owned(info.into_owned()),
        )
    };
    let entry_index = module
        .entry_points
        .iter()
        .position(|e| e.name == wgsl.entry_point)
        .ok_or_else(|| format!("no entry point `{}`", wgsl.entry_point))?;
    let mut program =
        lower::lower(&module, &info, entry_index, &wgsl.layout).map_err(|refused| {
            let line = refused
                .at
                .and_then(|at| source.get(..at))
                .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
                .unwrap_or_default();
            format!("the CPU executor does not support {}{line}", refused.what)
        })?;
    optimize::optimize(&mut program);
    registers::reuse_registers(&mut program);
    Ok(program)
}

/// Whether a launch of `work` (as the kernel measures it: invocations, or
/// body pairs for an n-body step) is small enough to run on the calling
/// thread. Work, not invocations: 1024 n-body invocations are a million
/// interactions, which two workers finish in half the time of one.
pub(crate) fn runs_inline(work: u64) -> bool {
    work < INLINE_BELOW_WORK
}

/// The workgroup grid of a launch: enough workgroups to cover every
/// invocation, as the GPU path dispatches.
fn grid_of(program: &Program, invocations: [u32; 3]) -> [u32; 3] {
    [0, 1, 2].map(|d| invocations[d].div_ceil(program.workgroup_size[d].max(1)))
}

/// Runs `program` over `invocations`, its storage bindings the launch's
/// buffer slots (in argument order) and its uniforms `uniforms`. Called
/// inside the runtime's pool, batches spread over its workers, or, when
/// `inline` (see [`runs_inline`]), on the calling thread.
///
/// With a `deadline`, written buffers run on copies that replace them only
/// when every batch finished in time.
///
/// # Errors
/// [`Error::CpuDeadlineExceeded`] past the deadline, every buffer as it
/// was; [`Error::CpuArgument`] when a written buffer slot was already taken
/// (the launch layer never hands one out twice).
pub(crate) fn run(
    compiled: &Compiled,
    kernel: &str,
    slots: Vec<CpuSlot<'_>>,
    uniforms: &[&[u8]],
    invocations: [u32; 3],
    inline: bool,
    deadline: Option<Duration>,
) -> Result<()> {
    let stop_at = deadline.map(|d| Instant::now() + d);
    let program = &compiled.program;
    let grid = grid_of(program, invocations);
    let workgroups: u64 = grid.iter().map(|&g| u64::from(g)).product();
    if workgroups == 0 {
        return Ok(());
    }

    let mut prepared = Vec::with_capacity(slots.len());
    for (index, slot) in slots.into_iter().enumerate() {
        prepared.push(match slot {
            CpuSlot::Read(bytes) => Prepared::Read(bytes),
            // With a deadline, every written buffer runs on a copy that
            // replaces it only if the launch finishes in time.
            CpuSlot::Write(Some(bytes)) if deadline.is_some() => {
                let copy = PaddedCopy::new(bytes);
                Prepared::Padded(bytes, copy)
            }
            CpuSlot::Write(Some(bytes)) => match atomic_words(bytes) {
                Ok(words) => Prepared::Direct(words),
                Err(bytes) => {
                    let copy = PaddedCopy::new(bytes);
                    Prepared::Padded(bytes, copy)
                }
            },
            CpuSlot::Write(None) => {
                return Err(Error::CpuArgument {
                    kernel: kernel.into(),
                    message: format!("buffer argument {index} was handed out twice"),
                })
            }
        });
    }
    let memory = Memory {
        storage: prepared.iter().map(Prepared::view).collect(),
        uniforms: uniforms.to_vec(),
    };

    let group_lanes: u32 = program.workgroup_size.iter().product();
    // Whole workgroups per batch: up to the target lane count, but, when
    // the batches go to the pool, enough of them that every worker gets
    // one. (Not several: a batch of few lanes pays each operation's
    // dispatch for little work, and an n-body step of 1024 bodies is only
    // eight workgroups, each as long as the others.)
    let threads = if inline {
        1
    } else {
        rayon::current_num_threads() as u64
    };
    let spread = if inline {
        workgroups
    } else {
        (workgroups / threads).max(1)
    };
    let per_batch = u64::from((TARGET_BATCH_LANES / group_lanes.max(1)).max(1)).min(spread) as u32;
    let batches = workgroups.div_ceil(u64::from(per_batch));
    let range = |b: u64| BatchRange {
        first_workgroup: b * u64::from(per_batch),
        workgroups: (workgroups - b * u64::from(per_batch)).min(u64::from(per_batch)) as u32,
    };
    let stopped = AtomicBool::new(false);
    let run_batch = |batch: &mut Batch, b: u64| {
        // Once one batch stopped, the rest do not start.
        if stopped.load(Ordering::Relaxed)
            || batch.run(program, &memory, range(b), stop_at).is_err()
        {
            stopped.store(true, Ordering::Relaxed);
        }
    };
    let run_leased = |lease: &mut Lease<'_>, b: u64| {
        if let Some(batch) = lease.batch.as_mut() {
            run_batch(batch, b);
        }
    };
    if batches == 1 || inline {
        let mut lease = compiled.lease(per_batch, grid, &memory);
        for b in 0..batches {
            run_leased(&mut lease, b);
        }
    } else {
        (0..batches)
            .into_par_iter()
            .for_each_init(|| compiled.lease(per_batch, grid, &memory), run_leased);
    }
    drop(memory);
    if let (true, Some(deadline)) = (stopped.into_inner(), deadline) {
        // The copies are dropped: every buffer keeps what it held.
        return Err(Error::CpuDeadlineExceeded {
            kernel: kernel.into(),
            deadline,
        });
    }
    for slot in prepared {
        if let Prepared::Padded(bytes, copy) = slot {
            copy.write_back(bytes);
        }
    }
    Ok(())
}

/// A buffer slot made ready for the program's memory view.
enum Prepared<'a> {
    Read(&'a [u8]),
    Direct(&'a [std::sync::atomic::AtomicU32]),
    Padded(&'a mut [u8], PaddedCopy),
}

impl Prepared<'_> {
    fn view(&self) -> StorageView<'_> {
        match self {
            Prepared::Read(bytes) => StorageView::Read(bytes),
            Prepared::Direct(words) => StorageView::Write(words),
            Prepared::Padded(_, copy) => StorageView::Write(copy.words()),
        }
    }
}
