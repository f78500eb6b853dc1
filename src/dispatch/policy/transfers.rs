//! Transfer costs: learned per direction from the probe, real readbacks and
//! GPU launches that uploaded; PCIe- or memcpy-class priors before that. The
//! prediction and the explanation of a choice are built from one pass over
//! the transfers a launch needs ([`TransferMoves`]).

use super::super::reason::TransferMoves;
use super::super::Target;
use super::record::slot;
use super::{ChoiceInput, Direction, Dispatcher};

pub(super) fn link_slot(direction: Direction) -> usize {
    match direction {
        Direction::Upload => 0,
        Direction::Download => 1,
    }
}

impl Dispatcher {
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
    pub(super) fn transfer_moves(&self, input: &ChoiceInput<'_>) -> TransferMoves {
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
}
