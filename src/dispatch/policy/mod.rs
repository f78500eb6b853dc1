//! The learned dispatcher: predicts what each target would cost for one
//! launch, picks the cheaper, explores within a budget, and learns from what
//! each launch then measured.
//!
//! A prediction is the target's execution time (learned per kernel in a
//! [`SizeHistory`], or a prior until it is measured) plus the transfers the
//! arguments' residency makes necessary on that target (learned per direction
//! from a probe, from real readbacks, and from GPU launches that uploaded:
//! once a size's execution time is known from launches that moved nothing,
//! what such a launch took beyond it is an upload measurement; `priors`,
//! `transfers`). The choice (`choose`) then applies, in order:
//! - **hysteresis** and **switching that pays for itself** (`switching`):
//!   the previous choice is kept unless the other target is clearly
//!   cheaper, and a faster target that loses only by the transfers it needs
//!   wins once repeated launches have repaid them (the ski-rental rule);
//! - **budgeted exploration** (`exploration`): a target not yet measured
//!   near this size, or the periodic re-check of the slower one, while all
//!   explorations cost within `explore_share` of the kernel's time.
//!
//! What each kernel has taught it lives in a `KernelRecord` (`record`).
//!
//! The first launch of a kernel on each target is cold (shader JIT, first
//! touch of memory, pool wake-up) and is not learned.
//!
//! Invariant: the dispatcher holds no clock and does no I/O; the launch path
//! feeds it measured durations, and the tests feed it fixed ones.

mod choose;
mod exploration;
mod inputs;
mod priors;
mod record;
mod switching;
#[cfg(test)]
mod tests;
mod transfers;

use rustc_hash::FxHashMap;

pub(crate) use inputs::{
    Choice, ChoiceInput, Direction, Exploration, Machine, NeededTransfer, Outcome, Predictions,
};
pub(crate) use record::KernelRecord;

use super::cost_model::{Learned, SizeHistory, SETTLED_SAMPLES};
use super::{SplitRates, SplitSides, Target};
use crate::target::CpuImplementation;
use record::{slot, UPLOAD_SHARE_TO_LEARN};
use transfers::link_slot;

/// The tunable constants of the policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PolicyConfig {
    /// Relative advantage the other target needs before a bucket switches.
    pub hysteresis: f64,
    /// A losing target is re-checked once per this many launches of a bucket.
    pub recheck_every: u32,
    /// Exploration may cost at most this share of a kernel's total time...
    pub explore_share: f64,
    /// ...plus this many seconds.
    pub explore_allowance: f64,
    /// An unmeasured target is tried when its prediction is at most this
    /// factor above the best, or at most `explore_allowance` above it.
    pub explore_max_ratio: f64,
    /// Keep choices that cannot change for a while and hand them back
    /// without predicting again (see `choose`); off only to test that this
    /// changes no choice.
    pub keep_settled: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            hysteresis: 0.05,
            recheck_every: 32,
            explore_share: 0.05,
            explore_allowance: 2e-3,
            explore_max_ratio: 2.0,
            keep_settled: true,
        }
    }
}

/// The learned state of one runtime; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Dispatcher {
    pub config: PolicyConfig,
    pub machine: Machine,
    pub kernels: FxHashMap<String, KernelRecord>,
    /// Transfer time against bytes, `[upload, download]`.
    pub links: [SizeHistory; 2],
}

impl Dispatcher {
    pub fn new(config: PolicyConfig, machine: Machine) -> Self {
        Dispatcher {
            config,
            machine,
            kernels: FxHashMap::default(),
            links: Default::default(),
        }
    }

    pub(super) fn record_mut(&mut self, key: &str) -> &mut KernelRecord {
        if !self.kernels.contains_key(key) {
            let name = key.split('#').next().unwrap_or(key).to_string();
            self.kernels.insert(
                key.to_string(),
                KernelRecord {
                    name,
                    ..KernelRecord::default()
                },
            );
        }
        self.kernels.get_mut(key).expect("inserted above")
    }

    /// Adds a sample read back from disk.
    pub fn restore_sample(&mut self, key: &str, target: Target, work: u64, seconds: f64) {
        self.record_mut(key).models[slot(target)].restore(work, seconds);
    }

    /// Learns from the two sides of a split launch of `key`.
    pub fn observe_split(&mut self, key: &str, sides: SplitSides) {
        let record = self.record_mut(key);
        record.split = SplitRates::after(record.split, sides);
    }

    /// Counts an `Auto` launch of `key` that was not split although it
    /// has been; returns how many since its last split (0 if never split).
    pub fn split_declined(&mut self, key: &str) -> u32 {
        match self
            .kernels
            .get_mut(key)
            .and_then(|record| record.split.as_mut())
        {
            Some(rates) => {
                rates.declined = rates.declined.saturating_add(1);
                rates.declined
            }
            None => 0,
        }
    }

    /// What split launches of `key` measured, if it has been split.
    pub fn split_rates(&self, key: &str) -> Option<SplitRates> {
        self.kernels.get(key).and_then(|record| record.split)
    }

    /// Notes what a CPU launch of `key` ran, for the report.
    pub fn note_cpu_implementation(&mut self, key: &str, implementation: CpuImplementation) {
        self.record_mut(key).totals.cpu_implementation = Some(implementation);
    }

    /// Learns from a finished launch (any target, Auto or explicit).
    ///
    /// A GPU launch that uploaded measured execution and upload together.
    /// When its size bucket already holds settled execution samples and the
    /// upload was predicted to take at least half as long as the execution,
    /// the model's execution time is taken as known and the rest is learned
    /// as an upload of `bytes_uploaded`; the execution model is then left
    /// alone, so that it stays the time of launches that moved nothing.
    /// Otherwise the predicted upload is taken off and the rest learned as
    /// execution.
    pub fn observe(&mut self, key: &str, outcome: &Outcome) -> Option<Learned> {
        let exec_to_learn = self.split_off_uploads(key, outcome);
        let record = self.record_mut(key);
        let s = slot(outcome.target);
        let totals = &mut record.totals;
        totals.launches[s] += 1;
        totals.seconds[s] += outcome.wall_seconds;
        totals.bytes_uploaded += outcome.bytes_uploaded;
        totals.bytes_downloaded += outcome.bytes_downloaded;
        record.total_seconds += outcome.wall_seconds;
        let cold = !record.warmed[s] || outcome.cold_pipeline;
        record.warmed[s] = true;
        if let Some(exploration) = outcome.explored {
            totals.explorations += 1;
            // A cold run (shader compilation, pool start) is paid once by
            // whichever launch first uses the target, so only what the
            // exploration was predicted to cost is charged for it: charging
            // the compilation would use up the budget for re-checks at every
            // size for a long time.
            let cost = if cold {
                exploration.predicted.min(outcome.wall_seconds)
            } else {
                outcome.wall_seconds
            };
            record.explore_seconds += (cost - exploration.best_predicted).max(0.0);
        }
        outcome.exec_seconds?;
        if cold {
            record.totals.cold += 1;
            return None;
        }
        if let Some(predicted) = outcome.predicted {
            if outcome.wall_seconds > 0.0 {
                record.totals.relative_error_sum +=
                    (predicted - outcome.wall_seconds).abs() / outcome.wall_seconds;
                record.totals.predicted_launches += 1;
            }
        }
        Some(record.models[s].observe(outcome.work, exec_to_learn?))
    }

    /// The execution seconds `outcome` should teach its kernel's model, after
    /// learning from the uploads it contains (see [`observe`](Self::observe)).
    fn split_off_uploads(&mut self, key: &str, outcome: &Outcome) -> Option<f64> {
        let measured = outcome.exec_seconds?;
        let uploaded = outcome.bytes_uploaded;
        if outcome.target != Target::Gpu || uploaded == 0 {
            return Some(measured);
        }
        let gpu = slot(Target::Gpu);
        let known_execution = self
            .kernels
            .get(key)
            .filter(|record| record.warmed[gpu] && !outcome.cold_pipeline)
            .map(|record| &record.models[gpu])
            .filter(|model| model.samples_at(outcome.work) >= SETTLED_SAMPLES)
            .and_then(|model| model.predict(outcome.work));
        let predicted_upload = self.transfer_seconds(Direction::Upload, uploaded);
        match known_execution {
            // The rest carries the execution's noise (a few tens of percent
            // on a busy machine), so it measures the upload only when the
            // upload is expected to be at least comparable to the execution.
            Some(execution) if predicted_upload >= UPLOAD_SHARE_TO_LEARN * execution => {
                let upload = measured - execution;
                if upload > 0.0 {
                    self.links[link_slot(Direction::Upload)].observe(uploaded, upload);
                }
                None
            }
            _ => Some((measured - predicted_upload).max(0.0)),
        }
    }
}
