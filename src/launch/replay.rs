//! How a GPU launch logged in a sequence is re-run on the CPU after device
//! loss (the log and the settling are the `recovery` layer's).
//!
//! Each GPU launch recorded in a [`Sequence`](crate::Sequence) is logged
//! with a [`LoggedLaunch`]: the kernel, its uniforms and size, and for every
//! argument the buffer's shared state, its access and the generation of the
//! data it saw (see `BufferState`). When settled, it runs the kernel's CPU
//! twin over the host copies, but only when that reproduces what the GPU
//! would have computed, so a replay never hands back wrong data:
//! - every argument it reads holds, on the host, the generation the launch
//!   read: the host copy was current when the launch was logged and has not
//!   changed since, or an earlier replayed entry brought it there;
//! - every argument it writes is older on the host than what the launch
//!   produced, so newer host data is never overwritten.
//!
//! An entry whose every write is superseded on the host (the caller
//! overwrote those buffers since) has nothing left to contribute and is
//! skipped. Any other entry that fails the checks, has no twin, or whose twin
//! fails is lost: its buffers keep reporting [`Error::DeviceLost`](crate::Error::DeviceLost),
//! and the summary names the kernel and why.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use smallvec::SmallVec;

use super::cpu::{run_on_pool, twin_slots};
use super::INLINE_ARGS;
use crate::buffer::residency::Use;
use crate::buffer::transfer::BufferState;
use crate::cpu::CpuPool;
use crate::kernel::Kernel;
use crate::recovery::{Replay, ReplayEntry, Replayed};
use crate::sync::lock;

/// One argument of a logged launch.
pub(super) struct ReplayArgument {
    pub id: u64,
    pub state: Arc<Mutex<BufferState>>,
    pub usage: Use,
    /// The buffer's generation when the launch was recorded, before its
    /// own write; a write produces `generation + 1`.
    pub generation: u64,
}

/// A logged launch's arguments, inline as a launch's are.
pub(super) type ReplayArguments = SmallVec<[ReplayArgument; INLINE_ARGS]>;

/// What became of a logged launch after device loss, for a pending launch
/// waiting on it: re-run (or superseded), or lost and why. Unset when it
/// finished on the GPU (a wait dropped its entry) before the loss.
pub(super) type ReplayFate = OnceLock<std::result::Result<(), String>>;

/// A GPU launch recorded in a sequence, as the replay needs it.
struct LoggedLaunch {
    kernel: Kernel,
    uniforms: Vec<Vec<u8>>,
    invocations: [u32; 3],
    arguments: ReplayArguments,
    cpu: CpuPool,
    fate: Option<Arc<ReplayFate>>,
}

impl LoggedLaunch {
    /// The name of argument `index`, for messages.
    fn argument_name(&self, index: usize) -> String {
        self.kernel
            .wgsl_part()
            .and_then(|wgsl| wgsl.argument_names.get(index).cloned())
            .unwrap_or_else(|| format!("#{index}"))
    }
}

/// The replay-log entry of a GPU launch just recorded (in a sequence, or
/// submitted); a replay after device loss leaves its outcome in `fate`.
pub(super) fn replay_entry(
    kernel: Kernel,
    uniforms: Vec<Vec<u8>>,
    invocations: [u32; 3],
    arguments: ReplayArguments,
    cpu: CpuPool,
    fate: Option<Arc<ReplayFate>>,
) -> ReplayEntry {
    Box::new(LoggedLaunch {
        kernel,
        uniforms,
        invocations,
        arguments,
        cpu,
        fate,
    })
}

impl Replay for LoggedLaunch {
    fn kernel(&self) -> &str {
        self.kernel.name()
    }

    fn replay(self: Box<Self>) -> std::result::Result<Replayed, String> {
        let outcome = replay(&self);
        if let Some(fate) = &self.fate {
            let _ = fate.set(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        }
        outcome
    }
}

/// Re-runs one entry if it can be reproduced exactly; else says why not.
fn replay(entry: &LoggedLaunch) -> std::result::Result<Replayed, String> {
    // Every distinct buffer, locked in id order like `run_cpu` does, so a
    // replay and a CPU launch on another thread cannot deadlock.
    let mut order: Vec<usize> = (0..entry.arguments.len()).collect();
    order.sort_by_key(|&index| entry.arguments[index].id);
    order.dedup_by_key(|index| entry.arguments[*index].id);
    let mut guards: Vec<(usize, MutexGuard<'_, BufferState>)> = order
        .iter()
        .map(|&index| (index, lock(&entry.arguments[index].state)))
        .collect();
    let guard_of = |id: u64| {
        guards
            .iter()
            .position(|(index, _)| entry.arguments[*index].id == id)
            .unwrap_or_default()
    };

    let writes: Vec<usize> = (0..entry.arguments.len())
        .filter(|&index| entry.arguments[index].usage != Use::Read)
        .collect();
    let superseded = |index: usize| {
        let argument = &entry.arguments[index];
        guards[guard_of(argument.id)].1.host_generation > argument.generation
    };
    if !writes.is_empty() && writes.iter().all(|&index| superseded(index)) {
        return Ok(Replayed::Superseded);
    }
    for (index, argument) in entry.arguments.iter().enumerate() {
        let state = &guards[guard_of(argument.id)].1;
        if argument.usage != Use::Read && state.host_generation > argument.generation {
            return Err(format!(
                "argument `{}` was written since on the host, and other arguments were not",
                entry.argument_name(index)
            ));
        }
        if argument.usage != Use::Overwrite && state.host_generation != argument.generation {
            return Err(format!(
                "argument `{}` held data only the GPU had when the launch was recorded",
                entry.argument_name(index)
            ));
        }
    }
    let path = entry.kernel.cpu_path()?;

    let arguments: Vec<(u64, Use)> = entry
        .arguments
        .iter()
        .map(|argument| (argument.id, argument.usage))
        .collect();
    let slots = twin_slots(
        guards
            .iter_mut()
            .map(|(index, guard)| {
                let argument = &entry.arguments[*index];
                (argument.id, &mut **guard, argument.usage)
            })
            .collect(),
        &arguments,
    );
    let uniforms: Vec<&[u8]> = entry.uniforms.iter().map(Vec::as_slice).collect();
    run_on_pool(
        &entry.cpu,
        &entry.kernel,
        &path,
        slots,
        uniforms,
        entry.invocations,
        None,
    )
    .map_err(|error| error.to_string())?;
    for (index, guard) in &mut guards {
        let argument = &entry.arguments[*index];
        if argument.usage != Use::Read {
            guard.finish_replay(argument.generation + 1);
        }
    }
    Ok(Replayed::Ran)
}
