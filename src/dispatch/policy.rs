//! The learned dispatcher: predicts what each target would cost for one
//! launch, picks the cheaper, explores within a budget, and learns from what
//! each launch then measured.
//!
//! A prediction is the target's execution time (learned per kernel in a
//! [`SizeHistory`], or a prior until it is measured) plus the transfers the
//! arguments' residency makes necessary on that target (learned per direction
//! from a probe and from real readbacks). The choice then applies, in order:
//! - **hysteresis**: per kernel and size bucket, the previous choice is kept
//!   unless the other target is predicted at least `hysteresis` cheaper, so
//!   two nearly equal targets do not alternate launch by launch;
//! - **exploration**: a target not yet measured near this size is tried when
//!   it is predicted to lose little; a losing target is re-checked once per
//!   `recheck_every` launches of a size bucket (8× sooner while its bucket
//!   holds fewer than three samples). Either happens only while the
//!   measured extra time of all explorations stays within `explore_share` of
//!   the kernel's total time plus a small fixed allowance.
//!
//! The first launch of a kernel on each target is cold (shader JIT, first
//! touch of memory, pool wake-up) and is not learned.
//!
//! Invariant: the dispatcher holds no clock and does no I/O; the launch path
//! feeds it measured durations, and the tests feed it fixed ones.

use std::collections::HashMap;

use super::cost_model::{bucket_of, Learned, SizeHistory, SETTLED_SAMPLES};
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NeededTransfer {
    /// The argument's binding name, for the explanation.
    pub name: String,
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
    /// Whether a GPU run of this launch would be timed. Inside a sequence a
    /// GPU launch is only recorded, so exploring the GPU there would learn
    /// nothing and is not done.
    pub gpu_measurable: bool,
}

/// The predicted cost of both targets, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Predictions {
    pub cpu: f64,
    pub gpu: f64,
    /// Whether each execution estimate is measured (else a prior).
    pub cpu_measured: bool,
    pub gpu_measured: bool,
}

impl Predictions {
    pub fn of(&self, target: Target) -> f64 {
        match target {
            Target::Gpu => self.gpu,
            _ => self.cpu,
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
    pub reason: String,
    pub predictions: Predictions,
    /// Chosen although predicted slower, to measure it.
    pub explored: bool,
}

/// What one finished launch measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Outcome {
    pub target: Target,
    pub work: u64,
    /// Execution time without the transfers, when it could be measured (a GPU
    /// launch inside a sequence is only recorded, so it has none).
    pub exec_seconds: Option<f64>,
    /// Everything the launch cost the caller.
    pub wall_seconds: f64,
    /// The prediction for the target that ran, when it came from
    /// measurements (prior guesses are not scored).
    pub predicted: Option<f64>,
    /// For explorations: the prediction of the target that would have won.
    pub explored_against: Option<f64>,
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
            explored_against: None,
            bytes_uploaded: 0,
            bytes_downloaded: 0,
            cold_pipeline: false,
        }
    }
}

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
    last_choice: HashMap<u16, Target>,
    /// Auto launches per (bucket, target) since that target last ran there.
    since_ran: HashMap<(u16, usize), u32>,
    explore_seconds: f64,
    total_seconds: f64,
    pub totals: KernelTotals,
}

/// The learned state of one runtime; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Dispatcher {
    pub config: PolicyConfig,
    pub machine: Machine,
    pub kernels: HashMap<String, KernelRecord>,
    /// Transfer time against bytes, `[upload, download]`.
    pub links: [SizeHistory; 2],
}

fn link_slot(direction: Direction) -> usize {
    match direction {
        Direction::Upload => 0,
        Direction::Download => 1,
    }
}

/// Formats seconds for explanations: `0.21 ms`, `3.4 ms`, `12 µs`.
pub(crate) fn millis(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else if ms >= 0.1 {
        format!("{ms:.3} ms")
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

impl Dispatcher {
    pub fn new(config: PolicyConfig, machine: Machine) -> Self {
        Dispatcher {
            config,
            machine,
            kernels: HashMap::new(),
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
        let points = model.points();
        match points.as_slice() {
            [] => (self.prior(target, work), false),
            [(n, t)] if bucket_of(work) != bucket_of(*n as u64) => {
                let latency = self.prior(target, 0).min(*t);
                let per_item = (t - latency) / n.max(1.0);
                (latency + per_item * work as f64, true)
            }
            _ => (model.predict_from(&points, work).unwrap_or_default(), true),
        }
    }

    fn transfers_seconds(&self, transfers: &[NeededTransfer]) -> f64 {
        transfers
            .iter()
            .map(|t| self.transfer_seconds(t.direction, t.bytes))
            .sum()
    }

    /// Predicted total seconds on each target.
    pub fn predict(&self, input: &ChoiceInput<'_>) -> Predictions {
        let record = self.kernels.get(input.key);
        let (cpu, cpu_measured) = self.exec_prediction(record, Target::Cpu, input.work);
        let (gpu, gpu_measured) = self.exec_prediction(record, Target::Gpu, input.work);
        Predictions {
            cpu: cpu + self.transfers_seconds(input.cpu_transfers),
            gpu: gpu + self.transfers_seconds(input.gpu_transfers),
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
        let predictions = self.predict(input);
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
        if let Some(&previous) = record.last_choice.get(&bucket) {
            if previous != cheaper
                && predictions.of(cheaper) > predictions.of(previous) * (1.0 - config.hysteresis)
            {
                best = previous;
                kept_by_hysteresis = true;
            }
        }
        let loser = best.other();
        let extra = (predictions.of(loser) - predictions.of(best)).max(0.0);
        let within_budget = record.explore_seconds + extra
            <= config.explore_share * record.total_seconds + config.explore_allowance;
        // Within an octave either way counts as measured at this size.
        let unmeasured_here = !record.models[slot(loser)].measured_near(input.work, 2);
        let waited = record
            .since_ran
            .get(&(bucket, slot(loser)))
            .copied()
            .unwrap_or(0);
        let try_unmeasured = unmeasured_here
            && (predictions.of(loser) <= predictions.of(best) * config.explore_max_ratio
                || extra <= config.explore_allowance);
        // A bucket with few samples may rest on one unlucky measurement:
        // re-check it sooner.
        let unsettled = record.models[slot(loser)].samples_at(input.work) < SETTLED_SAMPLES;
        let recheck_every = if unsettled {
            (config.recheck_every / 8).max(2)
        } else {
            config.recheck_every
        };
        let recheck = !unmeasured_here && waited + 1 >= recheck_every;

        let measurable = loser != Target::Gpu || input.gpu_measurable;
        let (target, explored) = if measurable && within_budget && (try_unmeasured || recheck) {
            (loser, true)
        } else {
            (best, false)
        };
        *record.since_ran.entry((bucket, slot(target))).or_insert(0) = 0;
        *record
            .since_ran
            .entry((bucket, slot(target.other())))
            .or_insert(0) += 1;
        if !explored {
            record.last_choice.insert(bucket, target);
        }

        let note = if explored && unmeasured_here {
            Some("exploring: not yet measured at this size")
        } else if explored {
            Some("exploring: periodic re-check of the slower target")
        } else if kept_by_hysteresis {
            Some("kept: the other target is not clearly faster")
        } else {
            None
        };
        Choice {
            target,
            reason: explain(target, &predictions, input, self, note),
            predictions,
            explored,
        }
    }

    /// Adds a sample read back from disk.
    pub fn restore_sample(&mut self, key: &str, target: Target, work: u64, seconds: f64) {
        self.record_mut(key).models[slot(target)].restore(work, seconds);
    }

    /// Learns from a finished launch (any target, Auto or explicit).
    pub fn observe(&mut self, key: &str, outcome: &Outcome) -> Option<Learned> {
        let record = self.record_mut(key);
        let s = slot(outcome.target);
        let totals = &mut record.totals;
        totals.launches[s] += 1;
        totals.seconds[s] += outcome.wall_seconds;
        totals.bytes_uploaded += outcome.bytes_uploaded;
        totals.bytes_downloaded += outcome.bytes_downloaded;
        record.total_seconds += outcome.wall_seconds;
        if let Some(best) = outcome.explored_against {
            totals.explorations += 1;
            record.explore_seconds += (outcome.wall_seconds - best).max(0.0);
        }
        let exec = outcome.exec_seconds?;
        let cold = !record.warmed[s] || outcome.cold_pipeline;
        record.warmed[s] = true;
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
        Some(record.models[s].observe(outcome.work, exec))
    }
}

/// "cpu: predicted 0.21 ms vs gpu 3.4 ms (gpu: 2.9 ms upload of `pos`)".
fn explain(
    target: Target,
    predictions: &Predictions,
    input: &ChoiceInput<'_>,
    dispatcher: &Dispatcher,
    note: Option<&str>,
) -> String {
    let loser = target.other();
    let label = |t: Target| {
        if predictions.measured(t) {
            ""
        } else {
            " (prior)"
        }
    };
    let mut reason = format!(
        "{target}: predicted {}{} vs {loser} {}{}",
        millis(predictions.of(target)),
        label(target),
        millis(predictions.of(loser)),
        label(loser),
    );
    let mut details = Vec::new();
    for (t, transfers) in [
        (Target::Cpu, input.cpu_transfers),
        (Target::Gpu, input.gpu_transfers),
    ] {
        let mut by_direction: Vec<(Direction, f64, Vec<String>)> = Vec::new();
        for transfer in transfers {
            let seconds = dispatcher.transfer_seconds(transfer.direction, transfer.bytes);
            match by_direction
                .iter_mut()
                .find(|(d, _, _)| *d == transfer.direction)
            {
                Some((_, total, names)) => {
                    *total += seconds;
                    names.push(format!("`{}`", transfer.name));
                }
                None => by_direction.push((
                    transfer.direction,
                    seconds,
                    vec![format!("`{}`", transfer.name)],
                )),
            }
        }
        for (direction, seconds, names) in by_direction {
            let verb = match direction {
                Direction::Upload => "upload",
                Direction::Download => "download",
            };
            details.push(format!(
                "{t}: {} {verb} of {}",
                millis(seconds),
                names.join(", ")
            ));
        }
    }
    if !details.is_empty() {
        reason.push_str(&format!(" ({})", details.join("; ")));
    }
    if let Some(note) = note {
        reason.push_str(&format!("; {note}"));
    }
    reason
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
            gpu_measurable: true,
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
                explored_against: choice
                    .explored
                    .then(|| choice.predictions.of(choice.target.other())),
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
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Cpu, n, 100e-6));
            d.observe("k#1", &outcome(Target::Gpu, n, 102e-6));
        }
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

    #[test]
    fn residency_shifts_the_choice_and_the_reason_names_the_buffer() {
        let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
        let n = 1 << 20;
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Cpu, n, 1.0e-3));
            d.observe("k#1", &outcome(Target::Gpu, n, 0.2e-3));
        }
        d.observe_transfer(Direction::Upload, 64 << 20, 6e-3);
        d.observe_transfer(Direction::Upload, 4096, 20e-6);
        // Data already on the device: the GPU wins.
        assert_eq!(d.choose(&input(n)).target, Target::Gpu);
        // 64 MiB of `pos` would have to be uploaded first: the CPU wins.
        let uploads = [NeededTransfer {
            name: "pos".into(),
            bytes: 64 << 20,
            direction: Direction::Upload,
        }];
        let choice = d.choose(&ChoiceInput {
            gpu_transfers: &uploads,
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
        for _ in 0..4 {
            d.observe("k#1", &outcome(Target::Cpu, n, 5e-3));
            d.observe("k#1", &outcome(Target::Gpu, n, 1e-3));
        }
        assert_eq!(d.choose(&input(n)).target, Target::Gpu);
    }

    #[test]
    fn millis_formats_for_people() {
        assert_eq!(millis(0.21e-3), "0.210 ms");
        assert_eq!(millis(3.4e-3), "3.40 ms");
        assert_eq!(millis(12e-6), "12.0 µs");
        assert_eq!(millis(0.25), "250 ms");
    }
}
