//! Staying or switching: hysteresis near the crossover, and the ski-rental
//! rule for a faster target that loses only by the transfers it needs.
//!
//! - **Hysteresis**: per kernel and size bucket, the previous choice is kept
//!   unless the other target is predicted at least `hysteresis` cheaper, so
//!   two nearly equal targets do not alternate launch by launch.
//! - **Switching pays for itself**: when the other target runs faster but
//!   loses only by the transfers the residency would need, and the launch
//!   repeats the one before it, those transfers are paid once and the faster
//!   target wins every launch after. Stay until the time lost by staying adds
//!   up to the one-time extra cost of switching, then switch: never worse
//!   than twice the best choice made knowing the future. A switch whose
//!   transfers come straight back doubles the regret the next one needs.

use super::super::Target;
use super::record::{KernelRecord, MAX_FAILED_SWITCHES};
use super::{PolicyConfig, Predictions};

/// The cheaper target, or `previous` when the cheaper one is not clearly
/// cheaper; the flag says hysteresis kept it.
pub(super) fn with_hysteresis(
    config: &PolicyConfig,
    predictions: &Predictions,
    previous: Option<Target>,
) -> (Target, bool) {
    let cheaper = if predictions.gpu < predictions.cpu {
        Target::Gpu
    } else {
        Target::Cpu
    };
    match previous {
        Some(previous)
            if previous != cheaper
                && predictions.of(cheaper)
                    > predictions.of(previous) * (1.0 - config.hysteresis) =>
        {
            (previous, true)
        }
        _ => (cheaper, false),
    }
}

fn transfers_of(predictions: &Predictions, target: Target) -> f64 {
    match target {
        Target::Gpu => predictions.gpu_transfers,
        _ => predictions.cpu_transfers,
    }
}

impl KernelRecord {
    /// Whether the previous launch's switch held or its transfers are back;
    /// a failed one doubles the regret the next switch needs.
    pub(super) fn settle_previous_switch(&mut self, repeats: bool, predictions: &Predictions) {
        if let Some(switched) = self.switched_to.take() {
            if repeats {
                if transfers_of(predictions, switched) > 0.0 {
                    self.failed_switches = (self.failed_switches + 1).min(MAX_FAILED_SWITCHES);
                } else {
                    self.failed_switches = 0;
                }
            }
        }
    }

    /// The faster target, when staying on `best` has now cost as much as
    /// switching once would (see the module docs); else `None`.
    pub(super) fn switch_if_repaid(
        &mut self,
        repeats: bool,
        predictions: &Predictions,
        best: Target,
    ) -> Option<Target> {
        let faster = best.other();
        // Per launch, staying costs `stay_cost`; switching costs
        // `switch_cost` once. (When the faster target is also cheaper in
        // total, only hysteresis kept `best`, and that is left alone.)
        let stay_cost = predictions.exec(best) - predictions.exec(faster);
        let switch_cost = predictions.of(faster) - predictions.of(best);
        if !(repeats && stay_cost > 0.0 && switch_cost > 0.0) {
            self.switch_regret = 0.0;
            return None;
        }
        self.switch_regret += stay_cost;
        let needed = switch_cost * f64::from(1u32 << self.failed_switches);
        if self.switch_regret < needed {
            return None;
        }
        self.switch_regret = 0.0;
        self.switched_to = Some(faster);
        Some(faster)
    }

    /// Transfers `target` needs, as predicted.
    pub(super) fn transfers_of(predictions: &Predictions, target: Target) -> f64 {
        transfers_of(predictions, target)
    }
}
