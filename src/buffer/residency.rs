//! Where a buffer's valid copies live, as an explicit state machine.
//!
//! A [`Residency`] answers one question before every use of a buffer: which
//! transfer, if any, must happen first. It holds no data and does no I/O, so
//! every transition is unit-tested without a GPU.
//!
//! Invariant: every byte's latest data is in at least one copy. A buffer is
//! never in a state where neither the host nor the device copy holds it.

use std::ops::Range;

/// Which copies of a buffer hold the latest data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Residency {
    /// Only the host copy is valid (new buffers, host writes, CPU launches).
    HostOnly,
    /// Only the device copy is valid (a GPU launch wrote it).
    DeviceOnly,
    /// Both copies hold the same data.
    Both,
    /// The host copy holds the latest data below byte `host_below`, the
    /// device copy from byte `device_from` on (at or below `host_below`:
    /// bytes between are current in both): a split launch
    /// (`Launch::split`) left each part where it computed it. A use that
    /// needs one whole copy first moves only the other's part; the next
    /// split at the same point moves nothing. Both are multiples of 4,
    /// wgpu's copy alignment.
    Split {
        /// The end of the host copy's current part.
        host_below: usize,
        /// The start of the device copy's current part.
        device_from: usize,
    },
}

/// The transfer a use requires before it may proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Nothing to move: the needed copy is already valid.
    None,
    /// Copy host → device first.
    Upload,
    /// Copy device → host first.
    Download,
}

/// How a launch or host access is going to use a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Read without modifying.
    Read,
    /// Read and modify: the current contents must be present.
    ReadWrite,
    /// Every element is overwritten: the current contents are not needed.
    Overwrite,
}

impl Residency {
    /// The transfer needed before the GPU uses the buffer as `usage`.
    pub fn before_gpu(self, usage: Use) -> Transfer {
        match (self, usage) {
            (Residency::HostOnly | Residency::Split { .. }, Use::Read | Use::ReadWrite) => {
                Transfer::Upload
            }
            _ => Transfer::None,
        }
    }

    /// The state after the GPU used the buffer as `usage`.
    pub fn after_gpu(self, usage: Use) -> Residency {
        match usage {
            Use::Read => match self {
                Residency::HostOnly => Residency::Both,
                // The host's part was uploaded; only the device copy is
                // known whole.
                Residency::Split { .. } => Residency::DeviceOnly,
                other => other,
            },
            Use::ReadWrite | Use::Overwrite => Residency::DeviceOnly,
        }
    }

    /// The transfer needed before the host (a read or a CPU launch) uses the
    /// buffer as `usage`.
    pub fn before_host(self, usage: Use) -> Transfer {
        match (self, usage) {
            (Residency::DeviceOnly | Residency::Split { .. }, Use::Read | Use::ReadWrite) => {
                Transfer::Download
            }
            _ => Transfer::None,
        }
    }

    /// The state after the host used the buffer as `usage`.
    pub fn after_host(self, usage: Use) -> Residency {
        match usage {
            Use::Read => match self {
                Residency::DeviceOnly => Residency::Both,
                Residency::Split { .. } => Residency::HostOnly,
                other => other,
            },
            Use::ReadWrite | Use::Overwrite => Residency::HostOnly,
        }
    }

    /// Whether the device copy holds the latest data.
    pub fn device_valid(self) -> bool {
        matches!(self, Residency::DeviceOnly | Residency::Both)
    }

    /// Whether the host copy holds the latest data.
    pub fn host_valid(self) -> bool {
        matches!(self, Residency::HostOnly | Residency::Both)
    }

    /// The bytes of a `len`-byte buffer whose device copy is stale: what a
    /// `Transfer::Upload` moves.
    pub fn stale_on_device(self, len: usize) -> Range<usize> {
        match self {
            Residency::HostOnly => 0..len,
            Residency::Split { device_from, .. } => 0..device_from.min(len),
            Residency::DeviceOnly | Residency::Both => 0..0,
        }
    }

    /// The bytes of a `len`-byte buffer whose host copy is stale: what a
    /// `Transfer::Download` moves.
    pub fn stale_on_host(self, len: usize) -> Range<usize> {
        match self {
            Residency::DeviceOnly => 0..len,
            Residency::Split { host_below, .. } => host_below.min(len)..len,
            Residency::HostOnly | Residency::Both => 0..0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STATES: [Residency; 4] = [
        Residency::HostOnly,
        Residency::DeviceOnly,
        Residency::Both,
        Residency::Split {
            host_below: 8,
            device_from: 4,
        },
    ];
    const ALL_USES: [Use; 3] = [Use::Read, Use::ReadWrite, Use::Overwrite];

    #[test]
    fn gpu_read_uploads_once_then_keeps_both_copies() {
        let state = Residency::HostOnly;
        assert_eq!(state.before_gpu(Use::Read), Transfer::Upload);
        let state = state.after_gpu(Use::Read);
        assert_eq!(state, Residency::Both);
        assert_eq!(state.before_gpu(Use::Read), Transfer::None);
        assert_eq!(state.before_host(Use::Read), Transfer::None);
    }

    #[test]
    fn gpu_write_invalidates_host_and_host_read_downloads_once() {
        let state = Residency::Both.after_gpu(Use::ReadWrite);
        assert_eq!(state, Residency::DeviceOnly);
        assert_eq!(state.before_host(Use::Read), Transfer::Download);
        let state = state.after_host(Use::Read);
        assert_eq!(state, Residency::Both);
        assert_eq!(state.before_host(Use::Read), Transfer::None);
    }

    #[test]
    fn overwrite_never_transfers_the_old_contents() {
        for state in ALL_STATES {
            assert_eq!(state.before_gpu(Use::Overwrite), Transfer::None);
            assert_eq!(state.before_host(Use::Overwrite), Transfer::None);
        }
    }

    #[test]
    fn host_write_on_device_data_downloads_first() {
        assert_eq!(
            Residency::DeviceOnly.before_host(Use::ReadWrite),
            Transfer::Download
        );
        assert_eq!(
            Residency::DeviceOnly.after_host(Use::ReadWrite),
            Residency::HostOnly
        );
    }

    #[test]
    fn a_split_buffer_moves_only_the_other_sides_part() {
        let split = Residency::Split {
            host_below: 8,
            device_from: 4,
        };
        assert!(!split.host_valid() && !split.device_valid());
        assert_eq!(split.before_gpu(Use::Read), Transfer::Upload);
        assert_eq!(split.stale_on_device(20), 0..4);
        assert_eq!(split.before_host(Use::ReadWrite), Transfer::Download);
        assert_eq!(split.stale_on_host(20), 8..20);
        assert_eq!(split.after_gpu(Use::Read), Residency::DeviceOnly);
        assert_eq!(split.after_host(Use::Read), Residency::HostOnly);
        assert_eq!(split.before_gpu(Use::Overwrite), Transfer::None);
    }

    #[test]
    fn every_byte_is_always_valid_somewhere_and_each_transfer_targets_a_stale_copy() {
        const LEN: usize = 20;
        for state in ALL_STATES {
            let stale_on_both = |state: Residency| {
                let (device, host) = (state.stale_on_device(LEN), state.stale_on_host(LEN));
                device.start.max(host.start) < device.end.min(host.end)
            };
            assert!(!stale_on_both(state), "{state:?}");
            for usage in ALL_USES {
                for next in [state.after_gpu(usage), state.after_host(usage)] {
                    assert!(next.host_valid() || next.device_valid());
                }
                match state.before_gpu(usage) {
                    Transfer::Upload => assert!(!state.stale_on_device(LEN).is_empty()),
                    Transfer::None => {}
                    Transfer::Download => panic!("the GPU never needs a download"),
                }
                match state.before_host(usage) {
                    Transfer::Download => assert!(!state.stale_on_host(LEN).is_empty()),
                    Transfer::None => {}
                    Transfer::Upload => panic!("the host never needs an upload"),
                }
            }
        }
    }
}
