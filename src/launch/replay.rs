//! Re-running lost GPU work on the CPU after the device is lost.
//!
//! A GPU launch inside a [`Sequence`](crate::Sequence) is recorded, not
//! waited for, and what it writes then lives only in device memory. Each
//! such launch leaves a [`ReplayEntry`] with the GPU context: the kernel, its
//! uniforms and size, and for every argument the buffer's shared state, its
//! access and the generation of the data it saw (see `BufferState`). A wait
//! that shows the GPU finished the launch drops its entry. When the device
//! is lost first, [`settle_device_loss`] takes the log and runs each entry's
//! CPU twin over the host copies, in the order they were logged.
//!
//! An entry is re-run only when that reproduces what the GPU would have
//! computed, so a replay never hands back wrong data:
//! - every argument it reads holds, on the host, the generation the launch
//!   read: the host copy was current when the launch was logged and has not
//!   changed since, or an earlier replayed entry brought it there;
//! - every argument it writes is older on the host than what the launch
//!   produced, so newer host data is never overwritten.
//!
//! An entry whose every write is superseded on the host (the caller
//! overwrote those buffers since) has nothing left to contribute and is
//! skipped. Any other entry that fails the checks, has no twin, or whose twin
//! fails is lost: its buffers keep reporting [`Error::DeviceLost`], and the
//! summary names the kernel and why.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::buffer::residency::Use;
use crate::buffer::transfer::BufferState;
use crate::device::lock;
use crate::error::{Error, Result};
use crate::kernel::{CpuArgs, CpuSlot, Kernel};
use crate::runtime::RuntimeShared;

use super::twin_slots;

/// One argument of a logged launch.
pub(crate) struct ReplayArgument {
    pub id: u64,
    pub state: Arc<Mutex<BufferState>>,
    pub usage: Use,
    /// The buffer's generation when the launch was recorded, before its
    /// own write; a write produces `generation + 1`.
    pub generation: u64,
}

/// A GPU launch recorded in a sequence and not yet known to have finished.
pub(crate) struct ReplayEntry {
    kernel: Kernel,
    uniforms: Vec<Vec<u8>>,
    invocations: [u32; 3],
    arguments: Vec<ReplayArgument>,
}

impl ReplayEntry {
    pub fn new(
        kernel: Kernel,
        uniforms: Vec<Vec<u8>>,
        invocations: [u32; 3],
        arguments: Vec<ReplayArgument>,
    ) -> Self {
        ReplayEntry {
            kernel,
            uniforms,
            invocations,
            arguments,
        }
    }

    /// The name of argument `index`, for messages.
    fn argument_name(&self, index: usize) -> String {
        self.kernel
            .wgsl_part()
            .and_then(|wgsl| wgsl.argument_names.get(index).cloned())
            .unwrap_or_else(|| format!("#{index}"))
    }
}

/// What [`settle_device_loss`] did.
#[derive(Debug, Default)]
pub(crate) struct ReplaySummary {
    /// Entries re-run on the CPU (also counted in
    /// `RuntimeShared::replayed_launches`).
    pub replayed: usize,
    /// Entries whose writes had all been overwritten on the host since.
    pub superseded: usize,
    /// Entries that could not be re-run, each as "`kernel`: why".
    pub lost: Vec<String>,
}

impl ReplaySummary {
    /// The error to report when some lost work could not be re-run.
    pub fn error(&self) -> Option<Error> {
        if self.lost.is_empty() {
            return None;
        }
        Some(Error::DeviceLost {
            reason: "Replay".into(),
            message: format!(
                "{} GPU launch(es) lost with the device could not be re-run on the CPU, so \
                 what they wrote is gone: {}",
                self.lost.len(),
                self.lost.join("; ")
            ),
        })
    }
}

/// If the device is lost, re-runs the GPU work it took with it on the CPU
/// (see the module docs); a no-op otherwise, costing one atomic load.
///
/// Call it before locking any buffer: the replay locks the buffers its
/// entries use.
pub(crate) fn settle_device_loss(shared: &RuntimeShared) -> ReplaySummary {
    let Some(gpu) = shared.gpu() else {
        return ReplaySummary::default();
    };
    if !gpu.is_lost() {
        return ReplaySummary::default();
    }
    // One replay at a time, so a thread that finds the log empty knows
    // that the work in it has been settled.
    let _replaying = lock(shared.replay_lock());
    let entries = gpu.take_replay_log();
    let mut summary = ReplaySummary::default();
    if entries.is_empty() {
        return summary;
    }
    for entry in &entries {
        match replay(shared, entry) {
            Ok(Replayed::Ran) => {
                summary.replayed += 1;
                shared
                    .replayed_launches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(Replayed::Superseded) => summary.superseded += 1,
            Err(why) => summary
                .lost
                .push(format!("`{}`: {why}", entry.kernel.name())),
        }
    }
    if summary.lost.is_empty() {
        log::warn!(
            "switchyard: the GPU was lost with {} unfinished launch(es); {} were re-run on the \
             CPU from the host copies",
            entries.len(),
            summary.replayed
        );
    } else {
        log::warn!(
            "switchyard: the GPU was lost with {} unfinished launch(es); {} were re-run on the \
             CPU, {} could not be: {}",
            entries.len(),
            summary.replayed,
            summary.lost.len(),
            summary.lost.join("; ")
        );
    }
    summary
}

enum Replayed {
    Ran,
    Superseded,
}

/// Re-runs one entry if it can be reproduced exactly; else says why not.
fn replay(shared: &RuntimeShared, entry: &ReplayEntry) -> std::result::Result<Replayed, String> {
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
    let twin = entry
        .kernel
        .twin()
        .ok_or_else(|| "the kernel has no CPU twin".to_string())?;

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
    run_twin_replay(shared, entry, twin, slots).map_err(|error| error.to_string())?;
    for (index, guard) in &mut guards {
        let argument = &entry.arguments[*index];
        if argument.usage != Use::Read {
            guard.finish_replay(argument.generation + 1);
        }
    }
    Ok(Replayed::Ran)
}

fn run_twin_replay(
    shared: &RuntimeShared,
    entry: &ReplayEntry,
    twin: &Arc<crate::kernel::CpuTwin>,
    slots: Vec<CpuSlot<'_>>,
) -> Result<()> {
    let cpu = shared.cpu();
    let name = entry.kernel.name();
    let uniforms: Vec<&[u8]> = entry.uniforms.iter().map(Vec::as_slice).collect();
    let inline = entry.kernel.twin_runs_inline(entry.invocations);
    cpu.run_twin(name, inline, || {
        let mut args = CpuArgs::new(name, slots, uniforms, entry.invocations, cpu.pool());
        twin(&mut args)
    })
}
