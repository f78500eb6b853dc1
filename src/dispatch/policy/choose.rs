//! One `Auto` choice, in order: predict both targets, keep the previous
//! choice by hysteresis, switch when repeated launches repay the transfers,
//! explore within budget, and explain (see `switching`, `exploration`).
//!
//! A choice that nothing can change for a while is kept as a
//! [`SettledChoice`]: the next launches with the same work and transfers,
//! while neither target's model has learned (versions) and while no
//! exploration can fall due (or one is due but the budget does not allow
//! it), get it back without predicting again. That is the common case of a simulation loop, and it makes
//! `Auto` cost about what an explicit target does.

use super::super::cost_model::bucket_of;
use super::super::reason::{Explanation, Reason, TransferNote};
use super::exploration::Explore;
use super::record::{slot, SettledChoice};
use super::switching::with_hysteresis;
use super::{Choice, ChoiceInput, Dispatcher};

impl Dispatcher {
    /// Chooses the target of an `Auto` launch that both targets can run.
    pub fn choose(&mut self, input: &ChoiceInput<'_>) -> Choice {
        let bucket = bucket_of(input.work);
        if let Some(choice) = self.settled_choice(input, bucket) {
            return choice;
        }
        let moves = self.transfer_moves(input);
        let predictions = self.predict_with(input, &moves);
        let config = self.config;
        let links = [self.links[0].version(), self.links[1].version()];
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
        let verdict = record.exploration(
            &config,
            input,
            &predictions,
            best,
            choices,
            switched.is_some(),
        );
        let explore = verdict.explore;
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
        // Kept only when no state this choice changes can change the next:
        // no switch pending or made, no exploration or its aftermath.
        let settled = config.keep_settled
            && explore.is_none()
            && switched.is_none()
            && record.switch_regret == 0.0
            && record.switched_to.is_none()
            && record.explored_from.is_none();
        if settled {
            let versions = [
                record.models[0].version(),
                record.models[1].version(),
                links[0],
                links[1],
            ];
            record.settled.insert(
                bucket,
                SettledChoice {
                    target,
                    reason: reason.clone(),
                    predictions,
                    work: input.work,
                    cpu_transfers: input.cpu_transfers.to_vec(),
                    gpu_transfers: input.gpu_transfers.to_vec(),
                    repeats_previous: input.repeats_previous,
                    gpu_measurable: input.gpu_measurable,
                    versions,
                    due_in: verdict.due_in.unwrap_or(u32::MAX),
                    never_explores: verdict.due_in.is_none(),
                    extra: (predictions.of(target.other()) - predictions.of(target)).max(0.0),
                },
            );
        } else {
            record.settled.remove(&bucket);
        }
        Choice {
            target,
            reason,
            predictions,
            explored: explore.is_some(),
        }
    }

    /// The bucket's settled choice, when this launch is one it was made for
    /// (see the module docs); counts the launch as the slow path would.
    fn settled_choice(&mut self, input: &ChoiceInput<'_>, bucket: u16) -> Option<Choice> {
        let config = self.config;
        let links = [self.links[0].version(), self.links[1].version()];
        let record = self.kernels.get_mut(input.key)?;
        let versions = [
            record.models[0].version(),
            record.models[1].version(),
            links[0],
            links[1],
        ];
        let settled = record.settled.get(&bucket)?;
        if !settled.fits(input, versions) {
            return None;
        }
        // Due, and the budget allows it: the full path explores.
        if settled.due_in == 0
            && !settled.never_explores
            && record.within_explore_budget(&config, settled.extra)
        {
            return None;
        }
        let settled = record.settled.get_mut(&bucket)?;
        settled.due_in = settled.due_in.saturating_sub(1);
        record.settled_hits += 1;
        let target = settled.target;
        let choice = Choice {
            target,
            reason: settled.reason.clone(),
            predictions: settled.predictions,
            explored: false,
        };
        let choices = record.buckets.entry(bucket).or_default();
        choices.since_ran[slot(target)] = 0;
        choices.since_ran[slot(target.other())] += 1;
        Some(choice)
    }
}
