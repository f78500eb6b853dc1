//! Where a buffer's valid copies live, as an explicit state machine.
//!
//! A [`Residency`] answers one question before every use of a buffer: which
//! transfer, if any, must happen first. It holds no data and does no I/O, so
//! every transition is unit-tested without a GPU.
//!
//! Invariant: at least one copy is always valid. A buffer is never in a state
//! where neither the host nor the device copy holds the latest data.

/// Which copies of a buffer hold the latest data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Residency {
    /// Only the host copy is valid (new buffers, host writes, CPU launches).
    HostOnly,
    /// Only the device copy is valid (a GPU launch wrote it).
    DeviceOnly,
    /// Both copies hold the same data.
    Both,
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
            (Residency::HostOnly, Use::Read | Use::ReadWrite) => Transfer::Upload,
            _ => Transfer::None,
        }
    }

    /// The state after the GPU used the buffer as `usage`.
    pub fn after_gpu(self, usage: Use) -> Residency {
        match usage {
            Use::Read => match self {
                Residency::HostOnly => Residency::Both,
                other => other,
            },
            Use::ReadWrite | Use::Overwrite => Residency::DeviceOnly,
        }
    }

    /// The transfer needed before the host (a read or a CPU launch) uses the
    /// buffer as `usage`.
    pub fn before_host(self, usage: Use) -> Transfer {
        match (self, usage) {
            (Residency::DeviceOnly, Use::Read | Use::ReadWrite) => Transfer::Download,
            _ => Transfer::None,
        }
    }

    /// The state after the host used the buffer as `usage`.
    pub fn after_host(self, usage: Use) -> Residency {
        match usage {
            Use::Read => match self {
                Residency::DeviceOnly => Residency::Both,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_STATES: [Residency; 3] =
        [Residency::HostOnly, Residency::DeviceOnly, Residency::Both];
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
    fn some_copy_is_always_valid_and_each_transfer_targets_a_stale_copy() {
        for state in ALL_STATES {
            assert!(state.host_valid() || state.device_valid());
            for usage in ALL_USES {
                for next in [state.after_gpu(usage), state.after_host(usage)] {
                    assert!(next.host_valid() || next.device_valid());
                }
                match state.before_gpu(usage) {
                    Transfer::Upload => assert!(!state.device_valid() && state.host_valid()),
                    Transfer::None => {}
                    Transfer::Download => panic!("the GPU never needs a download"),
                }
                match state.before_host(usage) {
                    Transfer::Download => assert!(!state.host_valid() && state.device_valid()),
                    Transfer::None => {}
                    Transfer::Upload => panic!("the host never needs an upload"),
                }
            }
        }
    }
}
