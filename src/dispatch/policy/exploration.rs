//! Budgeted exploration: measuring the target predicted to lose.
//!
//! A target not yet measured near this size is tried when it is predicted to
//! lose little; a losing target is re-checked once per `recheck_every`
//! launches of a size bucket (8× sooner while its bucket holds fewer than
//! three samples, 8× later when its time at a smaller size already exceeds
//! the best's prediction here, since larger launches are not faster; an
//! unmeasured target with such a floor is not tried at all). Either happens
//! only while the extra time of all explorations stays within
//! `explore_share` of the kernel's total time plus a small fixed allowance.
//! That extra time counts what an exploration leaves behind as well: until
//! the kernel is back on the target it explored from, its launches' cost
//! beyond that target's bare execution is charged too.

use super::super::cost_model::SETTLED_SAMPLES;
use super::super::Target;
use super::record::{slot, BucketChoices, KernelRecord};
use super::{ChoiceInput, PolicyConfig, Predictions};

/// Why a launch goes to the target predicted to lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Explore {
    /// Not yet measured near this size.
    Unmeasured,
    /// The periodic re-check of the slower target.
    Recheck,
}

/// What [`KernelRecord::exploration`] decided, and when an exploration can
/// next fall due with the models as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    pub explore: Option<Explore>,
    /// `None`: no exploration can fall due until a model changes.
    /// `Some(k)`: the next `k` launches cannot explore; after them, each
    /// launch explores when the budget allows.
    pub due_in: Option<u32>,
}

impl KernelRecord {
    /// Whether to explore the loser (`best.other()`) on this launch.
    pub(super) fn exploration(
        &self,
        config: &PolicyConfig,
        input: &ChoiceInput<'_>,
        predictions: &Predictions,
        best: Target,
        choices: BucketChoices,
        switched: bool,
    ) -> Verdict {
        let loser = best.other();
        let never = Verdict {
            explore: None,
            due_in: None,
        };
        if loser == Target::Gpu && !input.gpu_measurable {
            return never;
        }
        let extra = (predictions.of(loser) - predictions.of(best)).max(0.0);
        let within_budget = self.within_explore_budget(config, extra);
        let loser_model = &self.models[slot(loser)];
        // Within an octave either way counts as measured at this size.
        let unmeasured_here = !loser_model.measured_near(input.work, 2);
        // What the loser took at a smaller size bounds what it takes here.
        let cannot_win = loser_model.floor_below(input.work).is_some_and(|floor| {
            floor + KernelRecord::transfers_of(predictions, loser) > predictions.of(best)
        });
        if unmeasured_here {
            let cheap_enough = predictions.of(loser)
                <= predictions.of(best) * config.explore_max_ratio
                || extra <= config.explore_allowance;
            if cannot_win || !cheap_enough {
                return never;
            }
            return Verdict {
                explore: within_budget.then_some(Explore::Unmeasured),
                due_in: Some(0),
            };
        }
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
        if switched {
            return Verdict {
                explore: None,
                due_in: Some(0),
            };
        }
        let waited = choices.since_ran[slot(loser)];
        if waited + 1 >= recheck_every {
            return Verdict {
                explore: within_budget.then_some(Explore::Recheck),
                due_in: Some(0),
            };
        }
        // After this launch the loser has waited `waited + 1`; the launch
        // that finds it at `recheck_every - 1` is the first that may
        // re-check.
        Verdict {
            explore: None,
            due_in: Some(recheck_every - waited - 2),
        }
    }

    /// Whether an exploration that costs `extra` seconds more than the best
    /// target fits the budget.
    pub(super) fn within_explore_budget(&self, config: &PolicyConfig, extra: f64) -> bool {
        self.explore_seconds + extra
            <= config.explore_share * self.total_seconds + config.explore_allowance
    }

    /// Charges what launches after an exploration cost beyond the bare
    /// execution of the target it explored from, until the kernel is back.
    pub(super) fn charge_aftermath(
        &mut self,
        predictions: &Predictions,
        target: Target,
        explored_from: Option<Target>,
    ) {
        match explored_from {
            Some(best) => {
                self.explored_from.get_or_insert(best);
            }
            None => {
                if let Some(home) = self.explored_from {
                    self.explore_seconds +=
                        (predictions.of(target) - predictions.exec(home)).max(0.0);
                    if target == home {
                        self.explored_from = None;
                    }
                }
            }
        }
    }
}
