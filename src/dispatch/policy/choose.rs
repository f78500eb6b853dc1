//! One `Auto` choice, in order: predict both targets, keep the previous
//! choice by hysteresis, switch when repeated launches repay the transfers,
//! explore within budget, and explain (see `switching`, `exploration`).

use super::super::cost_model::bucket_of;
use super::super::reason::{Explanation, Reason, TransferNote};
use super::exploration::Explore;
use super::record::slot;
use super::switching::with_hysteresis;
use super::{Choice, ChoiceInput, Dispatcher};

impl Dispatcher {
    /// Chooses the target of an `Auto` launch that both targets can run.
    pub fn choose(&mut self, input: &ChoiceInput<'_>) -> Choice {
        let moves = self.transfer_moves(input);
        let predictions = self.predict_with(input, &moves);
        let config = self.config;
        let bucket = bucket_of(input.work);
        let record = self.record_mut(input.key);
        let choices = record.buckets.get(&bucket).copied().unwrap_or_default();

        let (mut best, mut kept_by_hysteresis) =
            with_hysteresis(&config, &predictions, choices.last_choice);
        record.settle_previous_switch(input.repeats_previous, &predictions);
        let switched = record.switch_if_repaid(input.repeats_previous, &predictions, best);
        if let Some(faster) = switched {
            best = faster;
            kept_by_hysteresis = false;
        }
        let explore = record.exploration(
            &config,
            input,
            &predictions,
            best,
            choices,
            switched.is_some(),
        );
        let target = if explore.is_some() {
            best.other()
        } else {
            best
        };
        record.charge_aftermath(&predictions, target, explore.map(|_| best));
        let choices = record.buckets.entry(bucket).or_default();
        choices.since_ran[slot(target)] = 0;
        choices.since_ran[slot(target.other())] += 1;
        if explore.is_none() {
            choices.last_choice = Some(target);
        }

        let note = match explore {
            Some(Explore::Unmeasured) => Some("exploring: not yet measured at this size"),
            Some(Explore::Recheck) => Some("exploring: periodic re-check of the slower target"),
            None if switched.is_some() => {
                Some("switching: it runs faster, and repeated launches pay for the transfers once")
            }
            None if kept_by_hysteresis => Some("kept: the other target is not clearly faster"),
            None => None,
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
            explored: explore.is_some(),
        }
    }
}
