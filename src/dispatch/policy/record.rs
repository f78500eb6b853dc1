//! What the dispatcher remembers per kernel: its cost models, per-bucket
//! choices, the exploration budget's account, switching state and totals.

use rustc_hash::FxHashMap;

use super::super::cost_model::SizeHistory;
use super::super::reason::Reason;
use super::super::Target;
use super::{ChoiceInput, NeededTransfer, Predictions};

/// What [`KernelRecord`] remembers per size bucket.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BucketChoices {
    pub last_choice: Option<Target>,
    /// `[cpu, gpu]`: Auto launches since the target last ran here.
    pub since_ran: [u32; 2],
}

/// A choice that repeats until something it was made from changes: the
/// same work and transfers, the same models (by version), and no
/// exploration due (or due, but outside the budget).
#[derive(Clone, Debug)]
pub(crate) struct SettledChoice {
    pub target: Target,
    pub reason: Reason,
    pub predictions: Predictions,
    pub work: u64,
    pub cpu_transfers: Vec<NeededTransfer>,
    pub gpu_transfers: Vec<NeededTransfer>,
    pub repeats_previous: bool,
    pub gpu_measurable: bool,
    /// `[cpu model, gpu model, upload link, download link]` versions.
    pub versions: [u64; 4],
    /// Launches left before an exploration can fall due; once 0, each launch
    /// explores when the budget allows (unless `never_explores`).
    pub due_in: u32,
    pub never_explores: bool,
    /// The exploration's predicted cost over the best target's, for the
    /// budget check.
    pub extra: f64,
}

impl SettledChoice {
    /// Whether `input`, with the models at `versions`, is the launch this
    /// choice was made for.
    pub fn fits(&self, input: &ChoiceInput<'_>, versions: [u64; 4]) -> bool {
        self.work == input.work
            && self.versions == versions
            && self.repeats_previous == input.repeats_previous
            && self.gpu_measurable == input.gpu_measurable
            && self.cpu_transfers == input.cpu_transfers
            && self.gpu_transfers == input.gpu_transfers
    }
}

/// Failed switches stop doubling the regret a switch needs here (64×).
pub(super) const MAX_FAILED_SWITCHES: u32 = 6;

/// A GPU launch's uploads are learned from what it took beyond its known
/// execution time only when they were predicted to take at least this share
/// of the execution (see [`Dispatcher::observe`]).
pub(super) const UPLOAD_SHARE_TO_LEARN: f64 = 0.5;

pub(super) fn slot(target: Target) -> usize {
    match target {
        Target::Gpu => 1,
        _ => 0,
    }
}

/// Per-kernel totals, for [`Runtime::report`](crate::Runtime::report).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct KernelTotals {
    pub launches: [u64; 2],
    pub seconds: [f64; 2],
    pub explorations: u64,
    pub cold: u64,
    pub relative_error_sum: f64,
    pub predicted_launches: u64,
    pub bytes_uploaded: u64,
    pub bytes_downloaded: u64,
    /// What the latest CPU launch ran: the twin or the WGSL executor.
    pub cpu_implementation: Option<crate::target::CpuImplementation>,
}

/// Everything learned about one kernel.
#[derive(Clone, Debug, Default)]
pub(crate) struct KernelRecord {
    pub name: String,
    /// Execution time against work, `[cpu, gpu]`.
    pub models: [SizeHistory; 2],
    /// Whether this process has already run the kernel on `[cpu, gpu]` once.
    pub(super) warmed: [bool; 2],
    /// Per size bucket: the last non-exploring choice and, per target, the
    /// Auto launches since it last ran there.
    pub(super) buckets: FxHashMap<u16, BucketChoices>,
    /// Per size bucket: the last choice, while it is known to stay the same
    /// (see `choose`).
    pub(super) settled: FxHashMap<u16, SettledChoice>,
    /// Choices handed back from `settled`.
    pub(super) settled_hits: u64,
    pub(super) explore_seconds: f64,
    pub(super) total_seconds: f64,
    /// Time lost so far by staying on a target that runs slower but needs no
    /// transfers (see the module docs on switching).
    pub(super) switch_regret: f64,
    /// Switches whose transfers came straight back; each doubles the regret
    /// needed before the next switch.
    pub(super) failed_switches: u32,
    /// The target the previous launch switched to, to check on this one
    /// whether the switch held.
    pub(super) switched_to: Option<Target>,
    /// Set by an exploration until the kernel runs on this target again:
    /// what those launches cost beyond its bare execution (the explored
    /// target again, transfers back) is charged to exploration.
    pub(super) explored_from: Option<Target>,
    pub totals: KernelTotals,
    /// What its split launches measured, once it has been split.
    pub split: Option<crate::dispatch::SplitRates>,
}
