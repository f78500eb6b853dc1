//! The learned dispatcher: predicts what each target would cost for one
//! launch, picks the cheaper, explores within a budget, and learns from what
//! each launch then measured.
//!
//! A prediction is the target's execution time (learned per kernel in a
//! [`SizeHistory`], or a prior until it is measured) plus the transfers the
//! arguments' residency makes necessary on that target (learned per direction
//! from a probe, from real readbacks, and from GPU launches that uploaded:
//! once a size's execution time is known from launches that moved nothing,
//! what such a launch took beyond it is an upload measurement). The choice
//! then applies, in order:
//! - **hysteresis**: per kernel and size bucket, the previous choice is kept
//!   unless the other target is predicted at least `hysteresis` cheaper, so
//!   two nearly equal targets do not alternate launch by launch;
//! - **switching pays for itself**: when the other target runs faster but
//!   loses only by the transfers the residency would need, and the launch
//!   repeats the one before it (same kernel, same buffers), those transfers
//!   are paid once and the faster target wins every launch after. The choice
//!   then follows the ski-rental rule: stay until the time lost by staying
//!   adds up to the one-time extra cost of switching, then switch. That is
//!   never worse than twice the best choice made knowing the future; and a
//!   switch whose transfers come back at once (the host rewrites the data
//!   every launch) doubles the time needed before the next one;
//! - **exploration**: a target not yet measured near this size is tried when
//!   it is predicted to lose little; a losing target is re-checked once per
//!   `recheck_every` launches of a size bucket (8× sooner while its bucket
//!   holds fewer than three samples, 8× later when its time at a smaller size
//!   already exceeds the best's prediction here, since larger launches are
//!   not faster; an unmeasured target with such a floor is not tried at
//!   all). Either happens only while the extra time of all explorations
//!   stays within `explore_share` of the kernel's total time plus a small
//!   fixed allowance. That extra time counts what an exploration leaves
//!   behind as well: until the kernel is back on the target it explored
//!   from, its launches' cost beyond that target's bare execution (data
//!   moved back, a launch kept on the explored target) is charged too.
//!
//! The first launch of a kernel on each target is cold (shader JIT, first
//! touch of memory, pool wake-up) and is not learned.
//!
//! Invariant: the dispatcher holds no clock and does no I/O; the launch path
//! feeds it measured durations, and the tests feed it fixed ones.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::cost_model::{bucket_of, Learned, SizeHistory, SETTLED_SAMPLES};
use super::reason::{Explanation, Reason, TransferMoves, TransferNote};
use super::Target;

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
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            hysteresis: 0.05,
            recheck_every: 32,
            explore_share: 0.05,
            explore_allowance: 2e-3,
            explore_max_ratio: 2.0,
        }
    }
}

/// Direction of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Host → device.
    Upload,
    /// Device → host.
    Download,
}

/// A transfer that running on some target would make necessary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NeededTransfer {
    /// The argument's position in the launch, which names it in the
    /// explanation (see [`ChoiceInput::argument_names`]).
    pub argument: usize,
    pub bytes: u64,
    pub direction: Direction,
}

/// What the dispatcher knows about the devices, for its priors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Machine {
    /// A hardware GPU (discrete or integrated); false for software adapters.
    pub gpu_hardware: bool,
    pub cpu_threads: usize,
}

/// One launch to choose a target for (both targets are able to run it).
#[derive(Clone, Debug)]
pub(crate) struct ChoiceInput<'a> {
    /// The kernel's identity: name plus a hash of its shader, so a changed
    /// shader starts with a fresh history.
    pub key: &'a str,
    pub work: u64,
    pub gpu_transfers: &'a [NeededTransfer],
    pub cpu_transfers: &'a [NeededTransfer],
    /// The arguments' binding names, by position, for explanations.
    pub argument_names: Option<&'a Arc<[String]>>,
    /// Whether a GPU run of this launch would be timed. Inside a sequence a
    /// GPU launch is only recorded, so exploring the GPU there would learn
    /// nothing and is not done.
    pub gpu_measurable: bool,
    /// Whether this launch has the same kernel and buffers as the launch just
    /// before it: then the residency this launch leaves is what the next one
    /// finds, and transfers made now are not needed again.
    pub repeats_previous: bool,
}

/// The predicted cost of both targets, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Predictions {
    /// Everything: execution plus transfers.
    pub cpu: f64,
    pub gpu: f64,
    /// The transfers' share of `cpu` and `gpu`.
    pub cpu_transfers: f64,
    pub gpu_transfers: f64,
    /// Whether each execution estimate is measured (else a prior).
    pub cpu_measured: bool,
    pub gpu_measured: bool,
}

impl Predictions {
    /// Total predicted seconds on `target`.
    pub fn of(&self, target: Target) -> f64 {
        match target {
            Target::Gpu => self.gpu,
            _ => self.cpu,
        }
    }

    /// Predicted execution seconds on `target`, without transfers.
    pub fn exec(&self, target: Target) -> f64 {
        match target {
            Target::Gpu => self.gpu - self.gpu_transfers,
            _ => self.cpu - self.cpu_transfers,
        }
    }

    /// Whether the execution estimate for `target` comes from measurements.
    pub fn measured(&self, target: Target) -> bool {
        match target {
            Target::Gpu => self.gpu_measured,
            _ => self.cpu_measured,
        }
    }
}

/// The dispatcher's answer for an `Auto` launch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Choice {
    pub target: Target,
    pub reason: Reason,
    pub predictions: Predictions,
    /// Chosen although predicted slower, to measure it.
    pub explored: bool,
}

/// An exploration's predicted cost, as the budget charges it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exploration {
    /// The explored target's predicted seconds (measured or prior).
    pub predicted: f64,
    /// The predicted seconds of the target that would have won.
    pub best_predicted: f64,
}

impl Choice {
    /// What an exploring choice predicted; `None` when it did not explore.
    pub fn exploration(&self) -> Option<Exploration> {
        self.explored.then(|| Exploration {
            predicted: self.predictions.of(self.target),
            best_predicted: self.predictions.of(self.target.other()),
        })
    }
}

/// What one finished launch measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub target: Target,
    pub work: u64,
    /// Execution time, when it could be measured (a GPU launch inside a
    /// sequence is only recorded, so it has none). For a GPU launch it
    /// includes the `bytes_uploaded` it queued, which the dispatcher splits
    /// off (see [`Dispatcher::observe`]); a CPU launch's host copies are read
    /// back before its twin starts, so they are never in it.
    pub exec_seconds: Option<f64>,
    /// Everything the launch cost the caller.
    pub wall_seconds: f64,
    /// The prediction for the target that ran, when it came from
    /// measurements (prior guesses are not scored).
    pub predicted: Option<f64>,
    /// For explorations: what was predicted, to charge the exploration
    /// budget.
    pub explored: Option<Exploration>,
    pub bytes_uploaded: u64,
    pub bytes_downloaded: u64,
    /// The pipeline was built for this launch (the GPU run is cold).
    pub cold_pipeline: bool,
}

impl Outcome {
    /// A plain measured launch with no prediction and no transfers (tests).
    #[cfg(test)]
    pub fn measured(target: Target, work: u64, seconds: f64) -> Outcome {
        Outcome {
            target,
            work,
            exec_seconds: Some(seconds),
            wall_seconds: seconds,
            predicted: None,
            explored: None,
            bytes_uploaded: 0,
            bytes_downloaded: 0,
            cold_pipeline: false,
        }
    }
}

/// What [`KernelRecord`] remembers per size bucket.
#[derive(Clone, Copy, Debug, Default)]
struct BucketChoices {
    last_choice: Option<Target>,
    /// `[cpu, gpu]`: Auto launches since the target last ran here.
    since_ran: [u32; 2],
}

/// Failed switches stop doubling the regret a switch needs here (64×).
const MAX_FAILED_SWITCHES: u32 = 6;

/// A GPU launch's uploads are learned from what it took beyond its known
/// execution time only when they were predicted to take at least this share
/// of the execution (see [`Dispatcher::observe`]).
const UPLOAD_SHARE_TO_LEARN: f64 = 0.5;

fn slot(target: Target) -> usize {
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
}

/// Everything learned about one kernel.
#[derive(Clone, Debug, Default)]
pub(crate) struct KernelRecord {
    pub name: String,
    /// Execution time against work, `[cpu, gpu]`.
    pub models: [SizeHistory; 2],
    /// Whether this process has already run the kernel on `[cpu, gpu]` once.
    warmed: [bool; 2],
    /// Per size bucket: the last non-exploring choice and, per target, the
    /// Auto launches since it last ran there.
    buckets: FxHashMap<u16, BucketChoices>,
    explore_seconds: f64,
    total_seconds: f64,
    /// Time lost so far by staying on a target that runs slower but needs no
    /// transfers (see the module docs on switching).
    switch_regret: f64,
    /// Switches whose transfers came straight back; each doubles the regret
    /// needed before the next switch.
    failed_switches: u32,
    /// The target the previous launch switched to, to check on this one
    /// whether the switch held.
    switched_to: Option<Target>,
    /// Set by an exploration until the kernel runs on this target again:
    /// what those launches cost beyond its bare execution (the explored
    /// target again, transfers back) is charged to exploration.
    explored_from: Option<Target>,
    pub totals: KernelTotals,
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

fn link_slot(direction: Direction) -> usize {
    match direction {
        Direction::Upload => 0,
        Direction::Download => 1,
    }
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

    /// Execution time of `work` items on `target` before any measurement: a
    /// CPU pool costs a fork-join plus about a nanosecond per item per thread;
    /// a hardware GPU a submit-and-wait plus very little per item; a software
    /// adapter (lavapipe) emulates the GPU on the same cores, so it starts out
    /// several times slower than the pool.
    fn prior(&self, target: Target, work: u64) -> f64 {
        let threads = self.machine.cpu_threads.max(1) as f64;
        let n = work as f64;
        match target {
            Target::Gpu if self.machine.gpu_hardware => 60e-6 + 0.02e-9 * n,
            Target::Gpu => 200e-6 + 10e-9 * n / threads,
            _ => 15e-6 + 1e-9 * n / threads,
        }
    }

    /// Seconds to move `bytes` in `direction`: learned, else a prior of PCIe-
    /// class bandwidth for hardware and memcpy-class for software adapters.
    pub fn transfer_seconds(&self, direction: Direction, bytes: u64) -> f64 {
        if bytes == 0 {
            return 0.0;
        }
        if let Some(t) = self.links[link_slot(direction)].predict(bytes) {
            return t;
        }
        let (latency, bytes_per_second) = if self.machine.gpu_hardware {
            (20e-6, 12e9)
        } else {
            (50e-6, 4e9)
        };
        latency + bytes as f64 / bytes_per_second
    }

    /// Per `[cpu, gpu]` and `[upload, download]`: the predicted seconds of
    /// the transfers `input` needs and which arguments they move. Both the
    /// prediction and the explanation are built from this one pass.
    fn transfer_moves(&self, input: &ChoiceInput<'_>) -> TransferMoves {
        let mut moves = TransferMoves::default();
        for (target, transfers) in [
            (Target::Cpu, input.cpu_transfers),
            (Target::Gpu, input.gpu_transfers),
        ] {
            for transfer in transfers {
                let (seconds, arguments) = &mut moves[slot(target)][link_slot(transfer.direction)];
                *seconds += self.transfer_seconds(transfer.direction, transfer.bytes);
                arguments.insert(transfer.argument);
            }
        }
        moves
    }

    /// Adds a transfer sample read back from disk.
    pub fn restore_transfer(&mut self, direction: Direction, bytes: u64, seconds: f64) {
        self.links[link_slot(direction)].restore(bytes, seconds);
    }

    /// Learns one measured transfer.
    pub fn observe_transfer(&mut self, direction: Direction, bytes: u64, seconds: f64) {
        if bytes > 0 {
            self.links[link_slot(direction)].observe(bytes, seconds);
        }
    }

    /// Whether any transfer has been measured (so the probe can be skipped).
    pub fn links_measured(&self) -> bool {
        self.links.iter().all(|l| !l.is_empty())
    }

    /// Execution seconds of `work` on `target`, and whether measured. A
    /// model with a single measured size cannot tell latency from per-item
    /// cost; away from that size it keeps the prior's latency (at most the
    /// measured time) and puts the rest of the measurement on the items.
    fn exec_prediction(
        &self,
        record: Option<&KernelRecord>,
        target: Target,
        work: u64,
    ) -> (f64, bool) {
        let Some(model) = record.map(|r| &r.models[slot(target)]) else {
            return (self.prior(target, work), false);
        };
        match model.points() {
            [] => (self.prior(target, work), false),
            [(n, t)] if bucket_of(work) != bucket_of(*n as u64) => {
                let latency = self.prior(target, 0).min(*t);
                let per_item = (t - latency) / n.max(1.0);
                (latency + per_item * work as f64, true)
            }
            _ => (model.predict(work).unwrap_or_default(), true),
        }
    }

    /// Predicted total seconds on each target.
    pub fn predict(&self, input: &ChoiceInput<'_>) -> Predictions {
        self.predict_with(input, &self.transfer_moves(input))
    }

    fn predict_with(&self, input: &ChoiceInput<'_>, moves: &TransferMoves) -> Predictions {
        let record = self.kernels.get(input.key);
        let (cpu, cpu_measured) = self.exec_prediction(record, Target::Cpu, input.work);
        let (gpu, gpu_measured) = self.exec_prediction(record, Target::Gpu, input.work);
        let total = |t: Target| {
            moves[slot(t)]
                .iter()
                .map(|(seconds, _)| seconds)
                .sum::<f64>()
        };
        let (cpu_transfers, gpu_transfers) = (total(Target::Cpu), total(Target::Gpu));
        Predictions {
            cpu: cpu + cpu_transfers,
            gpu: gpu + gpu_transfers,
            cpu_transfers,
            gpu_transfers,
            cpu_measured,
            gpu_measured,
        }
    }

    fn record_mut(&mut self, key: &str) -> &mut KernelRecord {
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

    /// Chooses the target of an `Auto` launch that both targets can run.
    pub fn choose(&mut self, input: &ChoiceInput<'_>) -> Choice {
        let moves = self.transfer_moves(input);
        let predictions = self.predict_with(input, &moves);
        let config = self.config;
        let bucket = bucket_of(input.work);
        let record = self.record_mut(input.key);

        let cheaper = if predictions.gpu < predictions.cpu {
            Target::Gpu
        } else {
            Target::Cpu
        };
        let mut best = cheaper;
        let mut kept_by_hysteresis = false;
        let choices = record.buckets.get(&bucket).copied().unwrap_or_default();
        if let Some(previous) = choices.last_choice {
            if previous != cheaper
                && predictions.of(cheaper) > predictions.of(previous) * (1.0 - config.hysteresis)
            {
                best = previous;
                kept_by_hysteresis = true;
            }
        }

        // Did the previous launch's switch hold, or are its transfers back?
        let transfers_of = |t: Target| match t {
            Target::Gpu => predictions.gpu_transfers,
            _ => predictions.cpu_transfers,
        };
        if let Some(switched) = record.switched_to.take() {
            if input.repeats_previous {
                if transfers_of(switched) > 0.0 {
                    record.failed_switches = (record.failed_switches + 1).min(MAX_FAILED_SWITCHES);
                } else {
                    record.failed_switches = 0;
                }
            }
        }
        let mut switched = false;
        let faster = best.other();
        // Per launch, staying costs `stay_cost`; switching costs
        // `switch_cost` once. (When the faster target is also cheaper in
        // total, only hysteresis kept `best`, and that is left alone.)
        let stay_cost = predictions.exec(best) - predictions.exec(faster);
        let switch_cost = predictions.of(faster) - predictions.of(best);
        if input.repeats_previous && stay_cost > 0.0 && switch_cost > 0.0 {
            record.switch_regret += stay_cost;
            let needed = switch_cost * f64::from(1u32 << record.failed_switches);
            if record.switch_regret >= needed {
                best = faster;
                switched = true;
                kept_by_hysteresis = false;
                record.switch_regret = 0.0;
                record.switched_to = Some(faster);
            }
        } else {
            record.switch_regret = 0.0;
        }

        let loser = best.other();
        let extra = (predictions.of(loser) - predictions.of(best)).max(0.0);
        let within_budget = record.explore_seconds + extra
            <= config.explore_share * record.total_seconds + config.explore_allowance;
        let loser_model = &record.models[slot(loser)];
        // Within an octave either way counts as measured at this size.
        let unmeasured_here = !loser_model.measured_near(input.work, 2);
        // What the loser took at a smaller size bounds what it takes here.
        let cannot_win = loser_model
            .floor_below(input.work)
            .is_some_and(|floor| floor + transfers_of(loser) > predictions.of(best));
        let waited = choices.since_ran[slot(loser)];
        let try_unmeasured = unmeasured_here
            && !cannot_win
            && (predictions.of(loser) <= predictions.of(best) * config.explore_max_ratio
                || extra <= config.explore_allowance);
        // A bucket with few samples may rest on one unlucky measurement:
        // re-check it sooner; one bounded below by a smaller size, later.
        let unsettled = loser_model.samples_at(input.work) < SETTLED_SAMPLES;
        let recheck_every = if cannot_win {
            config.recheck_every.saturating_mul(8)
        } else if unsettled {
            (config.recheck_every / 8).max(2)
        } else {
            config.recheck_every
        };
        let recheck = !switched && !unmeasured_here && waited + 1 >= recheck_every;

        let measurable = loser != Target::Gpu || input.gpu_measurable;
        let (target, explored) = if measurable && within_budget && (try_unmeasured || recheck) {
            (loser, true)
        } else {
            (best, false)
        };
        if explored {
            record.explored_from.get_or_insert(best);
        } else if let Some(home) = record.explored_from {
            record.explore_seconds += (predictions.of(target) - predictions.exec(home)).max(0.0);
            if target == home {
                record.explored_from = None;
            }
        }
        let choices = record.buckets.entry(bucket).or_default();
        choices.since_ran[slot(target)] = 0;
        choices.since_ran[slot(target.other())] += 1;
        if !explored {
            choices.last_choice = Some(target);
        }

        let note = if explored && unmeasured_here {
            Some("exploring: not yet measured at this size")
        } else if explored {
            Some("exploring: periodic re-check of the slower target")
        } else if switched {
            Some("switching: it runs faster, and repeated launches pay for the transfers once")
        } else if kept_by_hysteresis {
            Some("kept: the other target is not clearly faster")
        } else {
            None
        };
        let reason = Reason::explained(Explanation {
            target,
            predicted: [predictions.of(target), predictions.of(target.other())],
            measured: [
                predictions.measured(target),
                predictions.measured(target.other()),
            ],
            transfers: (!input.cpu_transfers.is_empty() || !input.gpu_transfers.is_empty()).then(
                || TransferNote {
                    moves,
                    names: input.argument_names.cloned(),
                },
            ),
            note,
        });
        Choice {
            target,
            reason,
            predictions,
            explored,
        }
    }

    /// Adds a sample read back from disk.
    pub fn restore_sample(&mut self, key: &str, target: Target, work: u64, seconds: f64) {
        self.record_mut(key).models[slot(target)].restore(work, seconds);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SOFTWARE: Machine = Machine {
        gpu_hardware: false,
        cpu_threads: 2,
    };
    const HARDWARE: Machine = Machine {
        gpu_hardware: true,
        cpu_threads: 2,
    };

    /// A fake machine: CPU costs 10 µs + 10 ns/item, GPU 200 µs + 0.1 ns/item,
    /// so the crossover is at about 19 200 items.
    fn cpu_time(n: u64) -> f64 {
        10e-6 + 10e-9 * n as f64
    }
    fn gpu_time(n: u64) -> f64 {
        200e-6 + 0.1e-9 * n as f64
    }

    fn input(work: u64) -> ChoiceInput<'static> {
        ChoiceInput {
            key: "k#1",
            work,
            gpu_transfers: &[],
            cpu_transfers: &[],
            argument_names: None,
            gpu_measurable: true,
            repeats_previous: false,
        }
    }

    /// Runs one Auto launch against the fake machine's timings.
    fn launch(d: &mut Dispatcher, work: u64) -> Choice {
        let choice = d.choose(&input(work));
        let t = match choice.target {
            Target::Gpu => gpu_time(work),
            _ => cpu_time(work),
        };
        d.observe(
            "k#1",
            &Outcome {
                predicted: Some(choice.predictions.of(choice.target)),
                explored: choice.exploration(),
                ..Outcome::measured(choice.target, work, t)
            },
        );
        choice
    }

    #[test]
    fn the_crossover_is_learned_on_both_sides() {
        let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
        let sizes = [1u64 << 8, 1 << 12, 1 << 16, 1 << 20, 1 << 22];
        for _ in 0..20 {
            for &n in &sizes {
                launch(&mut d, n);
            }
        }
        // After warm-up every non-exploring choice is the truly faster target.
        for &n in &sizes {
            for _ in 0..5 {
                let choice = launch(&mut d, n);
                if choice.explored {
                    continue;
                }
                let faster = if gpu_time(n) < cpu_time(n) {
                    Target::Gpu
                } else {
                    Target::Cpu
                };
                assert_eq!(choice.target, faster, "n={n}: {}", choice.reason);
            }
        }
        // Unseen sizes on both sides of the crossover are predicted from the fits.
        assert_eq!(d.choose(&input(1 << 24)).target, Target::Gpu);
        assert_eq!(d.choose(&input(1 << 9)).target, Target::Cpu);
    }

    #[test]
    fn exploration_is_bounded_in_launches_and_time() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        let mut explored = 0;
        let launches = 2000;
        for _ in 0..launches {
            explored += usize::from(launch(&mut d, 1 << 22).explored);
        }
        let record = &d.kernels["k#1"];
        // One or two launches to measure the CPU (cold + learned), then at
        // most one re-check per `recheck_every` launches.
        assert!(explored <= 2 + launches / 32, "{explored} explorations");
        assert!(explored >= 2, "the losing target was never measured");
        let extra = record.explore_seconds;
        assert!(
            extra <= 0.05 * record.total_seconds + 2e-3 + (cpu_time(1 << 22) - gpu_time(1 << 22)),
            "exploration cost {extra} s of {} s",
            record.total_seconds
        );
    }

    #[test]
    fn exploration_pays_for_moving_the_data_back_within_its_budget() {
        // CPU 50 µs, GPU 150 µs, 100 µs to move the written buffer either
        // way. Exploring the GPU moves the buffer there, and coming back
        // costs a download: that return trip counts against the budget too.
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        d.observe_transfer(Direction::Upload, 4096, 100e-6);
        d.observe_transfer(Direction::Download, 4096, 100e-6);
        let moving = |direction| {
            [NeededTransfer {
                argument: 1,
                bytes: 4096,
                direction,
            }]
        };
        let (upload, download) = (moving(Direction::Upload), moving(Direction::Download));
        let n = 1000;
        let mut data_on = Target::Cpu;
        let mut total = 0.0;
        let launches = 5000;
        for _ in 0..launches {
            let (gpu_transfers, cpu_transfers): (&[NeededTransfer], &[NeededTransfer]) =
                match data_on {
                    Target::Gpu => (&[], &download),
                    _ => (&upload, &[]),
                };
            let choice = d.choose(&ChoiceInput {
                gpu_transfers,
                cpu_transfers,
                repeats_previous: true,
                ..input(n)
            });
            let exec = match choice.target {
                Target::Gpu => 150e-6,
                _ => 50e-6,
            };
            let moved = if choice.target == data_on {
                0.0
            } else {
                100e-6
            };
            data_on = choice.target;
            total += exec + moved;
            d.observe(
                "k#1",
                &Outcome {
                    wall_seconds: exec + moved,
                    explored: choice.exploration(),
                    ..Outcome::measured(choice.target, n, exec)
                },
            );
        }
        let best = 50e-6 * launches as f64;
        // The budget (5% plus 2 ms), plus 1 ms: the budget is checked before
        // an exploration, which then overshoots it by its own cost and its
        // return trip (about 0.4 ms here), and the first GPU launch is cold.
        // Without charging the return trips this spends about 273 ms.
        assert!(
            total <= best * 1.05 + 2e-3 + 1e-3,
            "{:.2} ms spent where always-CPU takes {:.2} ms",
            total * 1e3,
            best * 1e3
        );
        assert!(d.kernels["k#1"].totals.explorations >= 2);
    }

    #[test]
    fn an_unmeasurable_gpu_is_not_explored() {
        let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
        let in_sequence = ChoiceInput {
            gpu_measurable: false,
            ..input(1 << 10)
        };
        for _ in 0..100 {
            assert!(!d.choose(&in_sequence).explored);
        }
        assert!(d.choose(&input(1 << 10)).explored);
    }

    #[test]
    fn a_target_far_slower_by_prior_is_not_explored_at_large_sizes() {
        // Software adapter prior at 2^24 items: ~84 ms vs the CPU's ~8 ms.
        let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
        let choice = d.choose(&input(1 << 24));
        assert_eq!(choice.target, Target::Cpu);
        assert!(!choice.explored);
        assert!(choice.reason.contains("(prior)"), "{}", choice.reason);
    }

    #[test]
    fn hysteresis_keeps_the_choice_near_the_crossover() {
        let mut d = Dispatcher::new(
            PolicyConfig {
                recheck_every: u32::MAX,
                ..PolicyConfig::default()
            },
            HARDWARE,
        );
        let n = 5000;
        measure_both(&mut d, n, 100e-6, 102e-6);
        let first = d.choose(&input(n));
        assert_eq!(first.target, Target::Cpu);
        // The GPU becomes 2% faster: not enough to switch.
        for _ in 0..8 {
            d.observe("k#1", &outcome(Target::Gpu, n, 98e-6));
        }
        let second = d.choose(&input(n));
        assert_eq!(second.target, Target::Cpu, "{}", second.reason);
        assert!(second.reason.contains("kept"), "{}", second.reason);
        // 20% faster: switch.
        for _ in 0..8 {
            d.observe("k#1", &outcome(Target::Gpu, n, 80e-6));
        }
        assert_eq!(d.choose(&input(n)).target, Target::Gpu);
    }

    fn outcome(target: Target, work: u64, seconds: f64) -> Outcome {
        Outcome::measured(target, work, seconds)
    }

    /// Four settled measurements of `n` items on each target.
    fn measure_both(d: &mut Dispatcher, n: u64, cpu_seconds: f64, gpu_seconds: f64) {
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Cpu, n, cpu_seconds));
            d.observe("k#1", &outcome(Target::Gpu, n, gpu_seconds));
        }
    }

    #[test]
    fn residency_shifts_the_choice_and_the_reason_names_the_buffer() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        let n = 1 << 20;
        measure_both(&mut d, n, 1.0e-3, 0.2e-3);
        d.observe_transfer(Direction::Upload, 64 << 20, 6e-3);
        d.observe_transfer(Direction::Upload, 4096, 20e-6);
        // Data already on the device: the GPU wins.
        assert_eq!(d.choose(&input(n)).target, Target::Gpu);
        // 64 MiB of `pos` would have to be uploaded first: the CPU wins.
        let uploads = [NeededTransfer {
            argument: 1,
            bytes: 64 << 20,
            direction: Direction::Upload,
        }];
        let names: Arc<[String]> = Arc::from(["vel".to_string(), "pos".to_string()]);
        let choice = d.choose(&ChoiceInput {
            gpu_transfers: &uploads,
            argument_names: Some(&names),
            ..input(n)
        });
        assert_eq!(choice.target, Target::Cpu, "{}", choice.reason);
        assert!(
            choice.reason.contains("upload of `pos`")
                && choice.reason.starts_with("cpu: predicted"),
            "{}",
            choice.reason
        );
    }

    #[test]
    fn gpu_launches_that_upload_teach_the_upload_cost_not_the_execution() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        let n = 1 << 16;
        let bytes = 4 << 20;
        // The probe said 4 MiB upload in 0.4 ms; this machine really takes 2 ms.
        d.observe_transfer(Direction::Upload, bytes, 0.4e-3);
        let uploading = |seconds| Outcome {
            bytes_uploaded: bytes,
            ..outcome(Target::Gpu, n, seconds)
        };
        // The first, cold launch uploads: nothing is learned from it.
        d.observe("k#1", &uploading(50e-3));
        // Before the size's execution is known, the predicted upload is taken
        // off and the rest learned as execution: 2.5 ms - 0.4 ms.
        d.observe("k#1", &uploading(2.5e-3));
        let exec = |d: &Dispatcher| d.kernels["k#1"].models[slot(Target::Gpu)].predict(n);
        assert!((exec(&d).unwrap() - 2.1e-3).abs() < 1e-9);
        // Launches on resident data settle the execution at 0.5 ms.
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Gpu, n, 0.5e-3));
        }
        assert!((exec(&d).unwrap() - 0.5e-3).abs() < 1e-9);
        // Now every launch that uploads is an upload measurement: 2.5 ms in
        // all is 2 ms of upload, and the execution model does not move.
        for _ in 0..6 {
            d.observe("k#1", &uploading(2.5e-3));
        }
        assert!((exec(&d).unwrap() - 0.5e-3).abs() < 1e-9);
        let upload = d.transfer_seconds(Direction::Upload, bytes);
        assert!((upload - 2e-3).abs() < 1e-9, "learned upload {upload}");
        // A launch with uploads is scored against the whole prediction.
        let uploads = [NeededTransfer {
            argument: 0,
            bytes,
            direction: Direction::Upload,
        }];
        let predicted = d.predict(&ChoiceInput {
            gpu_transfers: &uploads,
            ..input(n)
        });
        assert!((predicted.gpu - 2.5e-3).abs() < 1e-9, "{predicted:?}");
    }

    #[test]
    fn uploads_small_beside_the_execution_are_not_learned_from_its_noise() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        let (n, bytes) = (1 << 20, 4 << 20);
        d.observe_transfer(Direction::Upload, bytes, 0.4e-3);
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Gpu, n, 10e-3));
        }
        let samples = |d: &Dispatcher| d.kernels["k#1"].models[slot(Target::Gpu)].samples_at(n);
        let before = samples(&d);
        // 10.1 ms with a 0.4 ms upload: the execution was 9.7 ms, within its
        // noise; learning "0.1 ms" as the upload would be noise too.
        d.observe(
            "k#1",
            &Outcome {
                bytes_uploaded: bytes,
                ..outcome(Target::Gpu, n, 10.1e-3)
            },
        );
        assert!((d.transfer_seconds(Direction::Upload, bytes) - 0.4e-3).abs() < 1e-12);
        assert_eq!(samples(&d), before + 1, "learned as execution");
    }

    /// A dispatcher that has measured the CPU at 50 µs and the GPU at 100 µs
    /// for `n` items, and a 4 KiB download at 120 µs; re-checks are off.
    fn cpu_faster_but_data_on_the_gpu(n: u64) -> Dispatcher {
        let mut d = Dispatcher::new(
            PolicyConfig {
                recheck_every: u32::MAX,
                ..PolicyConfig::default()
            },
            HARDWARE,
        );
        measure_both(&mut d, n, 50e-6, 100e-6);
        for _ in 0..4 {
            d.observe_transfer(Direction::Download, 4096, 120e-6);
        }
        d
    }

    static DOWNLOAD_Y: [NeededTransfer; 1] = [NeededTransfer {
        argument: 1,
        bytes: 4096,
        direction: Direction::Download,
    }];

    /// A launch repeating the previous one, with its output `y` on the GPU.
    fn repeated_with_y_on_the_gpu(n: u64) -> ChoiceInput<'static> {
        ChoiceInput {
            cpu_transfers: &DOWNLOAD_Y,
            repeats_previous: true,
            ..input(n)
        }
    }

    #[test]
    fn a_switch_pays_for_itself_over_repeated_launches() {
        let n = 1000;
        let mut d = cpu_faster_but_data_on_the_gpu(n);
        let data_on_gpu = repeated_with_y_on_the_gpu(n);
        // CPU 50 µs + 120 µs download vs GPU 100 µs: staying loses 50 µs a
        // launch, switching 70 µs once. Stay once, then switch.
        let first = d.choose(&data_on_gpu);
        assert_eq!(first.target, Target::Gpu, "{}", first.reason);
        let second = d.choose(&data_on_gpu);
        assert_eq!(second.target, Target::Cpu, "{}", second.reason);
        assert!(second.reason.contains("switching"), "{}", second.reason);
        // Now the data is on the host and the CPU wins outright.
        let after = d.choose(&ChoiceInput {
            repeats_previous: true,
            ..input(n)
        });
        assert_eq!(after.target, Target::Cpu, "{}", after.reason);
        assert_eq!(d.kernels["k#1"].failed_switches, 0);

        // Launches that do not repeat the previous one (another kernel ran
        // in between and may move the data again) never switch.
        let mut d = cpu_faster_but_data_on_the_gpu(n);
        let interleaved = ChoiceInput {
            repeats_previous: false,
            ..data_on_gpu
        };
        for _ in 0..50 {
            assert_eq!(d.choose(&interleaved).target, Target::Gpu);
        }
    }

    #[test]
    fn a_switch_whose_transfers_come_back_waits_longer_next_time() {
        let n = 1000;
        let mut d = cpu_faster_but_data_on_the_gpu(n);
        let data_on_gpu = repeated_with_y_on_the_gpu(n);
        // Something rewrites the data on the device between launches, so
        // every switch to the CPU needs the download again.
        let mut waits = Vec::new();
        let mut since_switch = 0;
        for _ in 0..40 {
            let choice = d.choose(&data_on_gpu);
            since_switch += 1;
            if choice.target == Target::Cpu {
                waits.push(since_switch);
                since_switch = 0;
            }
        }
        assert!(waits.len() >= 3, "{waits:?}");
        assert!(
            waits.windows(2).all(|w| w[1] >= w[0]) && waits.last() > waits.first(),
            "the wait before each switch should grow: {waits:?}"
        );
    }

    #[test]
    fn a_target_already_slower_at_a_smaller_size_is_not_explored() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Cpu, 1 << 10, 10e-6));
            d.observe("k#1", &outcome(Target::Gpu, 1 << 10, 150e-6));
            d.observe("k#1", &outcome(Target::Cpu, 1 << 12, 30e-6));
        }
        // The GPU is unmeasured at 4096 items and its prediction (prior
        // latency plus scaled per-item) is within the exploration allowance,
        // but 150 µs at 1024 items already exceeds the CPU's 30 µs here.
        let explored = (0..200)
            .filter(|_| launch(&mut d, 1 << 12).explored)
            .count();
        assert_eq!(explored, 0);
        // Without that floor it would have been tried.
        let mut fresh = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        for _ in 0..4 {
            fresh.observe("k#1", &outcome(Target::Cpu, 1 << 12, 30e-6));
        }
        assert!(launch(&mut fresh, 1 << 12).explored);
    }

    #[test]
    fn cold_runs_and_unmeasured_launches_are_not_learned() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        assert_eq!(d.observe("k#1", &outcome(Target::Gpu, 100, 50e-3)), None);
        let mut cold = outcome(Target::Gpu, 100, 40e-3);
        cold.cold_pipeline = true;
        assert_eq!(d.observe("k#1", &cold), None);
        let mut recorded_only = outcome(Target::Gpu, 100, 1e-6);
        recorded_only.exec_seconds = None;
        assert_eq!(d.observe("k#1", &recorded_only), None);
        assert!(d.kernels["k#1"].models[1].is_empty());
        assert_eq!(
            d.observe("k#1", &outcome(Target::Gpu, 100, 0.1e-3)),
            Some(Learned::Yes)
        );
        assert_eq!(d.kernels["k#1"].totals.launches[1], 4);
        assert_eq!(d.kernels["k#1"].totals.cold, 2);
    }

    #[test]
    fn a_software_gpu_can_be_learned_to_be_fast() {
        // The prior says lavapipe is slow; measurements say otherwise.
        let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
        let n = 1 << 20;
        measure_both(&mut d, n, 5e-3, 1e-3);
        assert_eq!(d.choose(&input(n)).target, Target::Gpu);
    }
}
