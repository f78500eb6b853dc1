//! Execution-time predictions: what a kernel's measured history says, and
//! the priors used before there is any (a fork-join plus about a nanosecond
//! per item per thread on the pool, a submit-and-wait plus little per item
//! on a hardware GPU, several times the pool on a software adapter).

use super::super::cost_model::bucket_of;
use super::super::Target;
use super::record::{slot, KernelRecord};
use super::{ChoiceInput, Dispatcher, Predictions};
use crate::dispatch::reason::TransferMoves;

impl Dispatcher {
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

    pub(super) fn predict_with(
        &self,
        input: &ChoiceInput<'_>,
        moves: &TransferMoves,
    ) -> Predictions {
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
}
