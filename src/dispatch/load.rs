//! The work already queued on each target, for load-aware choices.
//!
//! Submitted launches ([`Launch::submit`](crate::Launch::submit)) run while
//! their caller goes on, so a new launch may find a target busy. [`Load`]
//! keeps, per target, how many submitted launches are in flight and when
//! the last of them is predicted to finish: each target runs its launches
//! one after another (the GPU's queue is in order, and a CPU launch spreads
//! over the whole pool), so a new one starts when the queue ahead of it is
//! predicted to end, or now if that has passed.
//!
//! Pure: the clock is passed in, so it is tested with fixed instants.
//!
//! Invariant: a target with nothing in flight is idle, whatever was
//! predicted; predictions only ever shift a busy target's end.

use std::time::{Duration, Instant};

use super::policy::Predictions;
use super::{Reason, Target};

/// How much earlier the other target must be predicted to finish before a
/// busy target's launch moves there: predictions are noisy, and moving on a
/// tie only shuffles work.
const MOVE_MARGIN: f64 = 0.9;

/// The earliest-finish choice for an `Auto` launch the dispatcher sent to
/// `chosen` as if both targets were idle: with `queued` seconds of work
/// ahead on each target (`[gpu, cpu]`), the other target wins when its
/// queue plus its prediction ends clearly earlier. Returns the new target
/// and why, or `None` to keep `chosen`.
pub(crate) fn earliest_finish(
    chosen: Target,
    predictions: &Predictions,
    queued: [f64; 2],
) -> Option<(Target, Reason)> {
    let queue_of = |target: Target| match target {
        Target::Gpu => queued[0],
        _ => queued[1],
    };
    let other = chosen.other();
    let finish_chosen = queue_of(chosen) + predictions.of(chosen);
    let finish_other = queue_of(other) + predictions.of(other);
    if queue_of(chosen) <= 0.0 || finish_other >= MOVE_MARGIN * finish_chosen {
        return None;
    }
    let ms = |seconds: f64| seconds * 1e3;
    Some((
        other,
        Reason::settled(
            other,
            format!(
                "{chosen} busy for {:.3} ms, finishes at {:.3} ms vs {other} {:.3} ms",
                ms(queue_of(chosen)),
                ms(finish_chosen),
                ms(finish_other)
            ),
        ),
    ))
}

/// In-flight submitted launches per target; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Load {
    gpu: TargetLoad,
    cpu: TargetLoad,
}

#[derive(Debug, Default)]
struct TargetLoad {
    in_flight: usize,
    /// When the launches in flight are predicted to be done.
    busy_until: Option<Instant>,
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

    /// Submitted launches on `target` not yet finished.
    pub fn in_flight(&self, target: Target) -> usize {
        self.of(target).in_flight
    }

    /// Seconds from `now` until `target` is predicted to be done with what
    /// is queued on it (0 when idle, or when its predictions have run out
    /// while work is still in flight: then nothing better is known).
    pub fn queued_seconds(&self, target: Target, now: Instant) -> f64 {
        let load = self.of(target);
        match load.busy_until {
            Some(until) if load.in_flight > 0 => until.saturating_duration_since(now).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// A launch predicted to take `seconds` was submitted to `target`: it
    /// starts when the queue ahead of it ends.
    pub fn started(&mut self, target: Target, seconds: f64, now: Instant) {
        let load = self.of_mut(target);
        let start = match load.busy_until {
            Some(until) if load.in_flight > 0 && until > now => until,
            _ => now,
        };
        let seconds = if seconds.is_finite() {
            seconds.max(0.0)
        } else {
            0.0
        };
        load.busy_until = Some(start + Duration::from_secs_f64(seconds.min(3600.0)));
        load.in_flight += 1;
    }

    /// A submitted launch on `target` finished.
    pub fn finished(&mut self, target: Target) {
        let load = self.of_mut(target);
        load.in_flight = load.in_flight.saturating_sub(1);
        if load.in_flight == 0 {
            load.busy_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches_queue_one_after_another_and_an_idle_target_is_free() {
        let now = Instant::now();
        let mut load = Load::default();
        assert_eq!(load.queued_seconds(Target::Gpu, now), 0.0);
        load.started(Target::Gpu, 0.002, now);
        load.started(Target::Gpu, 0.003, now);
        assert_eq!(load.in_flight(Target::Gpu), 2);
        let queued = load.queued_seconds(Target::Gpu, now);
        assert!((queued - 0.005).abs() < 1e-9, "{queued}");
        assert_eq!(load.queued_seconds(Target::Cpu, now), 0.0);
        let later = now + Duration::from_millis(1);
        assert!((load.queued_seconds(Target::Gpu, later) - 0.004).abs() < 1e-9);
        load.finished(Target::Gpu);
        load.finished(Target::Gpu);
        assert_eq!(load.queued_seconds(Target::Gpu, now), 0.0);
        load.finished(Target::Gpu);
        assert_eq!(load.in_flight(Target::Gpu), 0);
    }

    fn predictions(gpu: f64, cpu: f64) -> Predictions {
        Predictions {
            gpu,
            cpu,
            ..Predictions::default()
        }
    }

    #[test]
    fn a_busy_target_loses_a_launch_the_idle_one_finishes_first() {
        // GPU 1 ms, CPU 2 ms, both idle: no change.
        assert!(earliest_finish(Target::Gpu, &predictions(0.001, 0.002), [0.0, 0.0]).is_none());
        // GPU busy for 3 ms: it would finish at 4 ms, the CPU at 2 ms.
        let (target, reason) =
            earliest_finish(Target::Gpu, &predictions(0.001, 0.002), [0.003, 0.0]).unwrap();
        assert_eq!(target, Target::Cpu);
        assert_eq!(
            reason.as_str(),
            "cpu: gpu busy for 3.000 ms, finishes at 4.000 ms vs cpu 2.000 ms"
        );
        // Busy, but the other one is busier still.
        assert!(earliest_finish(Target::Gpu, &predictions(0.001, 0.002), [0.003, 0.004]).is_none());
        // Nearly a tie: kept.
        assert!(earliest_finish(Target::Cpu, &predictions(0.002, 0.001), [0.0, 0.00105]).is_none());
    }

    #[test]
    fn a_launch_after_the_predicted_end_starts_now() {
        let now = Instant::now();
        let mut load = Load::default();
        load.started(Target::Cpu, 0.001, now);
        let late = now + Duration::from_millis(5);
        assert_eq!(load.queued_seconds(Target::Cpu, late), 0.0);
        load.started(Target::Cpu, 0.002, late);
        let queued = load.queued_seconds(Target::Cpu, late);
        assert!((queued - 0.002).abs() < 1e-9, "{queued}");
        load.started(Target::Cpu, f64::NAN, late);
        assert_eq!(load.in_flight(Target::Cpu), 3);
    }
}
