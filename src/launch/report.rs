//! What a launch returns: where it ran, why, and what it cost.

use std::time::Duration;

use crate::dispatch::{Reason, Target};
use crate::pipeline::CacheOutcome;
use crate::target::CpuImplementation;

/// What a launch did: where it ran, why, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchReport {
    /// The kernel's name.
    pub kernel: String,
    /// Where it ran: [`Target::Gpu`] or [`Target::Cpu`], never `Auto`.
    pub target: Target,
    /// Why it ran there, e.g. `"cpu: predicted 0.210 ms vs gpu 3.40 ms (gpu:
    /// 2.90 ms upload of `pos`)"`, `"cpu: adapter lacks SHADER_F64"` or
    /// `"gpu: pinned"`. Written out when first read.
    pub reason: Reason,
    /// The dispatcher's predicted time on the target that ran (measured
    /// history, or its prior before there is any).
    pub predicted: Option<Duration>,
    /// For `Auto` launches that either target could run: the other target
    /// and its predicted time.
    pub alternative: Option<(Target, Duration)>,
    /// Sent to the target predicted slower, to measure it.
    pub explored: bool,
    /// The global size `[x, y, z]`.
    pub invocations: [u32; 3],
    /// The workgroup grid dispatched (GPU only); a grid over the adapter's
    /// per-dispatch limit is run as several dispatches of this total.
    pub workgroups: Option<[u32; 3]>,
    /// Whether the pipeline was already built (GPU only).
    pub pipeline: Option<CacheOutcome>,
    /// What ran on the CPU (CPU only): the kernel's Rust twin, or its WGSL
    /// on switchyard's executor.
    pub cpu_implementation: Option<CpuImplementation>,
    /// Bytes copied host → device for this launch.
    pub bytes_uploaded: u64,
    /// Bytes copied device → host for this launch.
    pub bytes_downloaded: u64,
    /// For a launch split across both targets ([`Launch::split`](crate::Launch::split)):
    /// how many elements each ran. `target` is then the one that ran more.
    pub split: Option<SplitParts>,
    /// Wall time from `run()` to return. Inside a sequence a GPU launch is only
    /// recorded, so this excludes its execution (see [`SequenceReport::wall`](crate::SequenceReport::wall)).
    pub wall: Duration,
}

/// How a split launch was shared: elements `0..cpu_elements` ran on the
/// CPU, the next `gpu_elements` on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitParts {
    /// Elements `0..cpu_elements`, run on the CPU.
    pub cpu_elements: u64,
    /// The elements after those, run on the GPU.
    pub gpu_elements: u64,
}

impl std::fmt::Display for LaunchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {}{} in {:.3} ms ({}); up {} B, down {} B",
            self.kernel,
            self.target,
            self.cpu_implementation
                .map_or(String::new(), |how| format!(" ({how})")),
            self.wall.as_secs_f64() * 1e3,
            self.reason,
            self.bytes_uploaded,
            self.bytes_downloaded
        )?;
        if let Some(parts) = self.split {
            write!(
                f,
                "; split: cpu {} + gpu {} elements",
                parts.cpu_elements, parts.gpu_elements
            )?;
        }
        if let Some(outcome) = self.pipeline {
            write!(f, "; pipeline {outcome:?}")?;
        }
        if let Some(predicted) = self.predicted {
            write!(f, "; predicted {:.3} ms", predicted.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}
