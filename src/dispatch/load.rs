//! The work already queued on each target, for load-aware choices.
//!
//! Submitted launches ([`Launch::submit`](crate::Launch::submit)) run while
//! their caller goes on, so a new launch may find a target busy. [`Load`]
//! keeps, per target, how many submitted launches are in flight and the sum
//! of their predicted times: each target runs its launches one after
//! another (the GPU's queue is in order, and a CPU launch spreads over the
//! whole pool), so a new one is predicted to start when the work ahead of
//! it is done.
//!
//! Pure: the clock is passed in, so it is tested with fixed instants.
//!
//! Invariant: a target with nothing in flight is idle, whatever was
//! predicted.

use std::time::{Duration, Instant};

use super::policy::Predictions;
use super::{Reason, Target};

/// How much earlier the other target must be predicted to finish before a
/// busy target's launch moves there: predictions are noisy, and moving on a
/// tie only shuffles work.
const MOVE_MARGIN: f64 = 0.9;

/// A launch never moves to a target predicted more than this many times
/// slower than the one chosen. Greedy earliest-finish is right for
/// independent launches, but a launch that moves takes its data along, and
/// the next launches over that data follow it (moving back costs the
/// transfers): where one target is much faster, a queue on it clears sooner
/// than work stranded on the slow one.
const MAX_MOVE_SLOWDOWN: f64 = 3.0;

/// The queues an `Auto` launch would meet, for [`earliest_finish`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Queues {
    /// Predicted seconds of submitted work ahead on each target.
    pub gpu: f64,
    pub cpu: f64,
    /// GPU submissions run on the submitting thread (see
    /// [`Load::gpu_blocks_submitter`]): while one runs, nothing new reaches
    /// the CPU.
    pub gpu_blocks_submitter: bool,
    /// The launch is submitted while its caller holds other pending
    /// launches: a burst, in which keeping both targets busy matters more
    /// than either launch's own time.
    pub in_burst: bool,
    /// Predicted seconds sent to each target in this burst so far, `[gpu,
    /// cpu]` (see [`Load::burst_assigned`]).
    pub burst_assigned: [f64; 2],
    /// Seconds until the GPU is predicted to finish writing what the CPU
    /// would first download (0 when it downloads nothing still being
    /// written): the download waits for it.
    pub cpu_data_ready_in: f64,
}

/// The earliest-finish choice for an `Auto` launch the dispatcher sent to
/// `chosen` as if both targets were idle: the other target wins when its
/// queue plus its prediction ends clearly earlier (see [`MOVE_MARGIN`] and
/// [`MAX_MOVE_SLOWDOWN`]). Returns the new target and why, or `None` to
/// keep `chosen`.
///
/// Where GPU submissions run on the submitting thread (lavapipe), the GPU
/// is never queued but a GPU launch holds the caller for its whole run, so
/// no new work reaches the CPU meanwhile: there the CPU gets the launch
/// while less than one GPU launch of work is queued on it (it would run
/// dry), and the GPU otherwise, while the caller submits a burst (holds
/// other pending launches).
pub(crate) fn earliest_finish(
    chosen: Target,
    predictions: &Predictions,
    queues: Queues,
) -> Option<(Target, Reason)> {
    let other = chosen.other();
    let ms = |seconds: f64| seconds * 1e3;
    let cpu_queue = queues.cpu.max(queues.cpu_data_ready_in);
    if queues.gpu_blocks_submitter && queues.in_burst {
        // The transfers a move costs are paid once: the launches after it
        // over the same data follow it. Only execution bounds the move.
        if predictions.exec(other) > MAX_MOVE_SLOWDOWN * predictions.exec(chosen) {
            return None;
        }
        // Both targets work through the whole burst, the GPU on the
        // caller's thread: each finishes what it was given since the burst
        // began, so that is its queue.
        let given = |target: Target| match target {
            Target::Gpu => queues.burst_assigned[0],
            _ => queues.burst_assigned[1],
        };
        let finish_chosen = given(chosen) + predictions.of(chosen);
        let finish_other = given(other) + predictions.of(other);
        if finish_other >= MOVE_MARGIN * finish_chosen {
            return None;
        }
        let why = format!(
            "gpu launches hold the caller; in this burst {:.3} ms given to the {chosen} vs \
             {:.3} ms to the {other}",
            ms(given(chosen)),
            ms(given(other))
        );
        return Some((other, Reason::settled(other, why)));
    }
    // With nothing queued anywhere the dispatcher's comparison stands.
    if (queues.gpu <= 0.0 && queues.cpu <= 0.0)
        || predictions.of(other) > MAX_MOVE_SLOWDOWN * predictions.of(chosen)
    {
        return None;
    }
    let queue_of = |target: Target| match target {
        Target::Gpu => queues.gpu,
        _ => cpu_queue,
    };
    let finish_chosen = queue_of(chosen) + predictions.of(chosen);
    let finish_other = queue_of(other) + predictions.of(other);
    if finish_other >= MOVE_MARGIN * finish_chosen {
        return None;
    }
    let why = format!(
        "{chosen} busy for {:.3} ms, finishes at {:.3} ms vs {other} {:.3} ms",
        ms(queue_of(chosen)),
        ms(finish_chosen),
        ms(finish_other)
    );
    Some((other, Reason::settled(other, why)))
}

/// In-flight submitted launches per target; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Load {
    gpu: TargetLoad,
    cpu: TargetLoad,
    /// The recent share of GPU submissions that ran to the end inside the
    /// submit call (a moving average): a software adapter such as lavapipe
    /// executes on the submitting thread.
    gpu_blocking_share: f64,
    /// Predicted seconds (transfers included) sent to each target, `[gpu,
    /// cpu]`, since the current burst of submissions began.
    burst_assigned: [f64; 2],
}

#[derive(Debug, Default)]
struct TargetLoad {
    in_flight: usize,
    /// The predicted seconds of the launches in flight, summed.
    pending_seconds: f64,
}

/// A prediction made usable as a duration: finite, non-negative, at most
/// an hour.
fn sane(seconds: f64) -> f64 {
    if seconds.is_finite() {
        seconds.clamp(0.0, 3600.0)
    } else {
        0.0
    }
}

impl Load {
    fn of(&self, target: Target) -> &TargetLoad {
        match target {
            Target::Gpu => &self.gpu,
            _ => &self.cpu,
        }
    }

    fn of_mut(&mut self, target: Target) -> &mut TargetLoad {
        match target {
            Target::Gpu => &mut self.gpu,
            _ => &mut self.cpu,
        }
    }

    /// Notes whether a GPU submission ran to its end before the submit call
    /// returned (it took most of its predicted time there).
    pub fn note_gpu_submission(&mut self, blocked: bool) {
        let sample = if blocked { 1.0 } else { 0.0 };
        self.gpu_blocking_share = 0.8 * self.gpu_blocking_share + 0.2 * sample;
    }

    /// Counts `seconds` (its prediction, transfers included) of a launch
    /// submitted to `target` within the current burst.
    pub fn assign_in_burst(&mut self, target: Target, seconds: f64) {
        self.burst_assigned[usize::from(target != Target::Gpu)] += sane(seconds);
    }

    /// Forgets the burst's assignments: its caller holds no pending launch.
    pub fn end_burst(&mut self) {
        self.burst_assigned = [0.0; 2];
    }

    /// The burst's assignments, `[gpu, cpu]`.
    pub fn burst_assigned(&self) -> [f64; 2] {
        self.burst_assigned
    }

    /// Whether GPU submissions block the submitting thread until they end.
    pub fn gpu_blocks_submitter(&self) -> bool {
        self.gpu_blocking_share > 0.5
    }

    /// Submitted launches on `target` not yet finished.
    pub fn in_flight(&self, target: Target) -> usize {
        self.of(target).in_flight
    }

    /// Seconds until `target` is predicted to be done with what is queued
    /// on it: the predictions of its unfinished launches, summed. A target
    /// that runs slower than predicted finishes fewer launches, so its
    /// queue keeps growing rather than running out while work remains; the
    /// launch running now counts whole, so the figure errs by at most one
    /// launch the other way.
    pub fn queued_seconds(&self, target: Target) -> f64 {
        let load = self.of(target);
        if load.in_flight == 0 {
            0.0
        } else {
            load.pending_seconds
        }
    }

    /// A launch predicted to take `seconds` was submitted to `target` at
    /// `now`: it starts when the queue ahead of it ends, and not before
    /// `not_before` (when the data it waits for is predicted ready).
    /// Returns when it is predicted to finish.
    pub fn started(
        &mut self,
        target: Target,
        seconds: f64,
        now: Instant,
        not_before: Option<Instant>,
    ) -> Instant {
        let queued = self.queued_seconds(target);
        let load = self.of_mut(target);
        let mut start = now + Duration::from_secs_f64(sane(queued));
        if let Some(ready) = not_before {
            start = start.max(ready);
        }
        let seconds = sane(seconds);
        load.pending_seconds += seconds;
        load.in_flight += 1;
        start + Duration::from_secs_f64(seconds)
    }

    /// A submitted launch on `target`, predicted to take `seconds` when it
    /// started, finished.
    pub fn finished(&mut self, target: Target, seconds: f64) {
        let load = self.of_mut(target);
        load.in_flight = load.in_flight.saturating_sub(1);
        load.pending_seconds = if load.in_flight == 0 {
            0.0
        } else {
            (load.pending_seconds - sane(seconds)).max(0.0)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches_queue_one_after_another_and_an_idle_target_is_free() {
        let now = Instant::now();
        let mut load = Load::default();
        assert_eq!(load.queued_seconds(Target::Gpu), 0.0);
        let first = load.started(Target::Gpu, 0.002, now, None);
        let second = load.started(Target::Gpu, 0.003, now, None);
        assert_eq!(first, now + Duration::from_millis(2));
        assert_eq!(second, now + Duration::from_millis(5));
        assert_eq!(load.in_flight(Target::Gpu), 2);
        assert!((load.queued_seconds(Target::Gpu) - 0.005).abs() < 1e-9);
        assert_eq!(load.queued_seconds(Target::Cpu), 0.0);
        // Running late changes nothing until a launch finishes.
        load.finished(Target::Gpu, 0.002);
        assert!((load.queued_seconds(Target::Gpu) - 0.003).abs() < 1e-9);
        load.finished(Target::Gpu, 0.003);
        assert_eq!(load.queued_seconds(Target::Gpu), 0.0);
        load.finished(Target::Gpu, 0.003);
        assert_eq!(load.in_flight(Target::Gpu), 0);
    }

    #[test]
    fn a_launch_waiting_for_data_starts_when_it_is_ready() {
        let now = Instant::now();
        let mut load = Load::default();
        load.started(Target::Cpu, 0.001, now, None);
        let ready = now + Duration::from_millis(4);
        let end = load.started(Target::Cpu, 0.002, now, Some(ready));
        assert_eq!(end, ready + Duration::from_millis(2));
        let end = load.started(Target::Cpu, f64::NAN, now, None);
        assert_eq!(end, now + Duration::from_millis(3));
        assert_eq!(load.in_flight(Target::Cpu), 3);
    }

    fn predictions(gpu: f64, cpu: f64) -> Predictions {
        Predictions {
            gpu,
            cpu,
            ..Predictions::default()
        }
    }

    fn queues(gpu: f64, cpu: f64) -> Queues {
        Queues {
            gpu,
            cpu,
            cpu_data_ready_in: 0.0,
            gpu_blocks_submitter: false,
            in_burst: false,
            burst_assigned: [0.0; 2],
        }
    }

    #[test]
    fn a_busy_target_loses_a_launch_the_idle_one_finishes_first() {
        let p = predictions(0.001, 0.002);
        // GPU 1 ms, CPU 2 ms, both idle: no change.
        assert!(earliest_finish(Target::Gpu, &p, queues(0.0, 0.0)).is_none());
        // GPU busy for 3 ms: it would finish at 4 ms, the CPU at 2 ms.
        let (target, reason) = earliest_finish(Target::Gpu, &p, queues(0.003, 0.0)).unwrap();
        assert_eq!(target, Target::Cpu);
        assert_eq!(
            reason.as_str(),
            "cpu: gpu busy for 3.000 ms, finishes at 4.000 ms vs cpu 2.000 ms"
        );
        // Busy, but the other one is busier still.
        assert!(earliest_finish(Target::Gpu, &p, queues(0.003, 0.004)).is_none());
        // Nearly a tie: kept.
        let p = predictions(0.002, 0.001);
        assert!(earliest_finish(Target::Cpu, &p, queues(0.0, 0.00105)).is_none());
    }

    #[test]
    fn a_launch_neither_moves_far_slower_nor_to_wait_behind_the_queue_it_left() {
        // The CPU is 10× slower: however long the GPU queue, the launch stays.
        let p = predictions(0.001, 0.010);
        assert!(earliest_finish(Target::Gpu, &p, queues(0.1, 0.0)).is_none());
        // Within 3×, it moves...
        let p = predictions(0.001, 0.0025);
        assert!(earliest_finish(Target::Gpu, &p, queues(0.01, 0.0)).is_some());
        // ...unless the CPU would first download what the GPU is still
        // making, and that is not ready much sooner than the queue ends.
        let waits = Queues {
            cpu_data_ready_in: 0.009,
            ..queues(0.01, 0.0)
        };
        assert!(earliest_finish(Target::Gpu, &p, waits).is_none());
        let ready_soon = Queues {
            cpu_data_ready_in: 0.002,
            ..queues(0.01, 0.0)
        };
        assert!(earliest_finish(Target::Gpu, &p, ready_soon).is_some());
    }

    #[test]
    fn a_gpu_that_holds_the_submitter_shares_a_burst_by_what_each_was_given() {
        let p = predictions(0.001, 0.0015);
        let blocking = |gpu_given: f64, cpu_given: f64| Queues {
            gpu_blocks_submitter: true,
            in_burst: true,
            burst_assigned: [gpu_given, cpu_given],
            ..queues(0.0, 0.0)
        };
        // The GPU was given 4 ms, the CPU 1 ms: the CPU gets the launch.
        let (target, reason) = earliest_finish(Target::Gpu, &p, blocking(0.004, 0.001)).unwrap();
        assert_eq!(target, Target::Cpu);
        assert_eq!(
            reason.as_str(),
            "cpu: gpu launches hold the caller; in this burst 4.000 ms given to the gpu vs \
             1.000 ms to the cpu"
        );
        assert!(earliest_finish(Target::Cpu, &p, blocking(0.004, 0.001)).is_none());
        // Even shares: the dispatcher's choice stands.
        assert!(earliest_finish(Target::Gpu, &p, blocking(0.002, 0.002)).is_none());
        // Outside a burst, with nothing queued, it stands too.
        let alone = Queues {
            in_burst: false,
            ..blocking(0.004, 0.0)
        };
        assert!(earliest_finish(Target::Gpu, &p, alone).is_none());
        let mut load = Load::default();
        assert!(!load.gpu_blocks_submitter());
        for _ in 0..4 {
            load.note_gpu_submission(true);
        }
        assert!(load.gpu_blocks_submitter());
        load.assign_in_burst(Target::Cpu, 0.002);
        load.assign_in_burst(Target::Gpu, 0.001);
        assert_eq!(load.burst_assigned(), [0.001, 0.002]);
        load.end_burst();
        assert_eq!(load.burst_assigned(), [0.0, 0.0]);
    }
}
