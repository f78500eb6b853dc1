//! What the dispatcher is told about a launch and what it answers: the
//! transfers each target needs, the predictions, the choice, and what the
//! finished launch measured.

use std::sync::Arc;

use super::super::reason::Reason;
use super::super::Target;

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
