//! Where a launch runs: the [`Target`] a user asks for and the policy that
//! resolves [`Target::Auto`].
//!
//! Deciding happens in two steps, both pure and tested without a GPU:
//! 1. [`decide`] settles what is fixed: an explicit target (from the launch, a
//!    per-kernel pin, or the runtime's default), a kernel with one
//!    implementation, and a GPU that cannot run this launch (absent, lost,
//!    unhealthy, lacking a feature the kernel needs, or too small for its
//!    arguments). It answers [`Resolution::Learned`] when `Auto` may choose.
//! 2. The learned [`Dispatcher`] (`policy`) predicts both targets' cost from
//!    measured history (`cost_model`) and the transfers the arguments'
//!    residency requires, explores within a budget, and explains its choice.
//!
//! A kernel's split launches (one launch run on both targets at once) are
//! learned apart, as each side's rate while both ran (`split_rates`).
//!
//! What it learned is saved per machine (`persist`) and summarized by
//! [`DispatchReport`] (`report`); why each launch ran where it did is a
//! [`Reason`] (`reason`).
//!
//! Invariant: an explicit `Target::Gpu` or `Target::Cpu` is honoured or fails
//! with [`Error::TargetUnavailable`](crate::Error::TargetUnavailable); it is never silently redirected.

use crate::error::{Error, Result};
pub use crate::target::Target;

mod cost_model;
mod load;
pub(crate) mod persist;
mod policy;
mod reason;
mod report;
mod split_rates;

pub(crate) use load::{earliest_finish, Load, Queues};
pub(crate) use policy::{
    ChoiceInput, Direction, Dispatcher, Exploration, Machine, NeededTransfer, Outcome,
    PolicyConfig, Predictions,
};
pub use reason::Reason;
pub use report::{CostLine, DispatchReport, KernelReport};
pub(crate) use split_rates::{SplitRates, SplitSides};

/// Parsing lives here, above the error layer that `Target` sits below.
impl std::str::FromStr for Target {
    type Err = Error;
    fn from_str(value: &str) -> Result<Target> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Target::Auto),
            "gpu" => Ok(Target::Gpu),
            "cpu" => Ok(Target::Cpu),
            _ => Err(Error::Config {
                key: "target".into(),
                value: value.into(),
                message: "expected auto, gpu or cpu".into(),
            }),
        }
    }
}

/// Where a launch's requested target came from, for the explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestSource {
    /// `.on(target)` on the launch or its sequence.
    Launch,
    /// [`Runtime::pin`](crate::Runtime::pin) for this kernel.
    Pin,
    /// The runtime's default (`SWITCHYARD_TARGET` or the config).
    Default,
}

impl RequestSource {
    fn describe(self) -> &'static str {
        match self {
            RequestSource::Launch => "requested",
            RequestSource::Pin => "pinned",
            RequestSource::Default => "the runtime's default target",
        }
    }
}

/// What the policy knows about the GPU right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GpuStatus {
    /// No adapter was opened; the string says why.
    Absent(String),
    /// The device was lost.
    Lost,
    /// A launch failed on it; `Auto` avoids it, explicit launches may still try.
    Unhealthy(String),
    /// Usable; `hardware` is false for software adapters such as lavapipe.
    Ready { hardware: bool },
}

/// Everything [`decide`] looks at.
#[derive(Clone, Debug)]
pub(crate) struct DecisionInput<'a> {
    pub kernel: &'a str,
    pub requested: Target,
    pub source: RequestSource,
    pub has_wgsl: bool,
    /// `Err(why)` when the CPU pool cannot run the kernel (no twin, and
    /// WGSL the executor does not support).
    pub cpu: std::result::Result<(), String>,
    pub gpu: GpuStatus,
    /// Features the kernel needs that the device lacks.
    pub missing_features: wgpu::Features,
    /// `Err(why)` when the arguments exceed the device's limits.
    pub fits_gpu: std::result::Result<(), String>,
}

/// A fixed answer: where the launch runs and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub target: Target,
    pub reason: Reason,
}

/// What [`decide`] leaves to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// The target is settled (explicit, or only one target can run it).
    Fixed(Decision),
    /// `Auto`, and both targets can run it: ask the learned [`Dispatcher`].
    Learned,
}

/// Names of the features in `features`, e.g. `SHADER_F64, SUBGROUP`.
pub(crate) fn feature_names(features: wgpu::Features) -> String {
    features
        .iter_names()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the GPU cannot run this launch at all, if it cannot.
fn gpu_unusable(input: &DecisionInput<'_>) -> Option<String> {
    if !input.has_wgsl {
        return Some("the kernel has no WGSL implementation".into());
    }
    match &input.gpu {
        GpuStatus::Absent(why) => return Some(format!("no GPU: {why}")),
        GpuStatus::Lost => return Some("the GPU device was lost".into()),
        GpuStatus::Unhealthy(_) | GpuStatus::Ready { .. } => {}
    }
    if !input.missing_features.is_empty() {
        return Some(format!(
            "adapter lacks {}",
            feature_names(input.missing_features)
        ));
    }
    input.fits_gpu.clone().err()
}

/// Resolves the requested target for one launch, up to the learned choice.
///
/// # Errors
/// [`Error::TargetUnavailable`](crate::Error::TargetUnavailable) when an explicit target cannot run the kernel,
/// or when neither target can.
pub(crate) fn decide(input: &DecisionInput<'_>) -> Result<Resolution> {
    let unavailable = |target, reason: String| Error::TargetUnavailable {
        kernel: input.kernel.into(),
        target,
        reason,
    };
    let fixed = |target, why: std::borrow::Cow<'static, str>| {
        Ok(Resolution::Fixed(Decision {
            target,
            reason: Reason::settled(target, why),
        }))
    };
    let gpu_blocker = gpu_unusable(input);
    let how = input.source.describe();
    match input.requested {
        Target::Gpu => match gpu_blocker {
            Some(why) => Err(unavailable(Target::Gpu, why)),
            None => fixed(Target::Gpu, how.into()),
        },
        Target::Cpu => match &input.cpu {
            Ok(()) => fixed(Target::Cpu, how.into()),
            Err(why) => Err(unavailable(Target::Cpu, why.clone())),
        },
        Target::Auto => {
            let auto_blocker = gpu_blocker.or_else(|| match &input.gpu {
                GpuStatus::Unhealthy(why) => Some(format!("the GPU is marked unhealthy: {why}")),
                _ => None,
            });
            match (auto_blocker, &input.cpu) {
                (Some(why), Ok(())) => fixed(Target::Cpu, why.into()),
                (Some(why), Err(cpu_why)) => {
                    Err(unavailable(Target::Auto, format!("{cpu_why}; and {why}")))
                }
                (None, Err(cpu_why)) => fixed(Target::Gpu, cpu_why.clone().into()),
                (None, Ok(())) => Ok(Resolution::Learned),
            }
        }
    }
}

/// The workgroup grid for a launch of `invocations` threads.
///
/// A 1-D launch that needs more than `max_per_dim` workgroups is folded into a
/// 2-D grid of `x * y >= groups` workgroups, which the kernel must linearize as
/// `gid.x + gid.y * num_workgroups.x * workgroup_size.x` (so it must read
/// `@builtin(num_workgroups)`) and bounds-check.
///
/// # Errors
/// A message when the grid cannot be made within `max_per_dim`.
pub(crate) fn plan_grid(
    invocations: [u32; 3],
    workgroup_size: [u32; 3],
    max_per_dim: u32,
    kernel_linearizes: bool,
) -> std::result::Result<[u32; 3], String> {
    let groups = workgroups_for(invocations, workgroup_size);
    if groups.iter().all(|&g| g <= max_per_dim) {
        return Ok(groups);
    }
    let one_dimensional = invocations[1] == 1 && invocations[2] == 1;
    if !one_dimensional {
        return Err(format!(
            "grid of {groups:?} workgroups exceeds {max_per_dim} per dimension"
        ));
    }
    if !kernel_linearizes {
        return Err(format!(
            "{} workgroups exceed {max_per_dim} per dimension; the kernel must read \
             @builtin(num_workgroups) and index by gid.x + gid.y * num_workgroups.x * {} \
             so the launch can be folded into 2-D",
            groups[0], workgroup_size[0]
        ));
    }
    let x = groups[0].min(max_per_dim);
    let y = groups[0].div_ceil(x);
    if y > max_per_dim {
        return Err(format!("{} workgroups exceed {max_per_dim}²", groups[0]));
    }
    Ok([x, y, 1])
}

/// The workgroups that cover `invocations`, per dimension.
pub(crate) fn workgroups_for(invocations: [u32; 3], workgroup_size: [u32; 3]) -> [u32; 3] {
    std::array::from_fn(|d| invocations[d].div_ceil(workgroup_size[d].max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(requested: Target, gpu: GpuStatus) -> DecisionInput<'static> {
        DecisionInput {
            kernel: "k",
            requested,
            source: RequestSource::Launch,
            has_wgsl: true,
            cpu: Ok(()),
            gpu,
            missing_features: wgpu::Features::empty(),
            fits_gpu: Ok(()),
        }
    }

    const HW: GpuStatus = GpuStatus::Ready { hardware: true };
    const SW: GpuStatus = GpuStatus::Ready { hardware: false };

    fn fixed(input: &DecisionInput<'_>) -> Decision {
        match decide(input).unwrap() {
            Resolution::Fixed(decision) => decision,
            Resolution::Learned => panic!("expected a fixed decision"),
        }
    }

    #[test]
    fn auto_asks_the_learned_dispatcher_when_both_targets_can_run() {
        assert_eq!(
            decide(&input(Target::Auto, HW)).unwrap(),
            Resolution::Learned
        );
        assert_eq!(
            decide(&input(Target::Auto, SW)).unwrap(),
            Resolution::Learned
        );
    }

    #[test]
    fn auto_falls_back_to_the_cpu_and_says_why() {
        let d = fixed(&input(Target::Auto, GpuStatus::Lost));
        assert_eq!(d.target, Target::Cpu);
        assert!(d.reason.contains("lost"), "{}", d.reason);
        let mut too_big = input(Target::Auto, HW);
        too_big.fits_gpu = Err("binding `x` exceeds 128 MiB".into());
        assert!(fixed(&too_big).reason.contains("128 MiB"));
        let sick = fixed(&input(
            Target::Auto,
            GpuStatus::Unhealthy("out of memory".into()),
        ));
        assert_eq!(sick.target, Target::Cpu);
        assert!(
            sick.reason.contains("unhealthy: out of memory"),
            "{}",
            sick.reason
        );
    }

    #[test]
    fn missing_features_route_to_the_cpu_and_are_named() {
        let mut needs_f64 = input(Target::Auto, HW);
        needs_f64.missing_features = wgpu::Features::SHADER_F64;
        let d = fixed(&needs_f64);
        assert_eq!(d.target, Target::Cpu);
        assert_eq!(d.reason, "cpu: adapter lacks SHADER_F64");
        needs_f64.requested = Target::Gpu;
        let err = decide(&needs_f64).unwrap_err();
        assert!(err.to_string().contains("SHADER_F64"), "{err}");
    }

    #[test]
    fn explicit_targets_are_never_redirected() {
        let err = decide(&input(Target::Gpu, GpuStatus::Absent("no driver".into()))).unwrap_err();
        assert!(err.to_string().contains("no driver"), "{err}");
        assert_eq!(fixed(&input(Target::Gpu, SW)).target, Target::Gpu);
        // An unhealthy GPU may still be asked for explicitly.
        let unhealthy = GpuStatus::Unhealthy("oom".into());
        assert_eq!(fixed(&input(Target::Gpu, unhealthy)).target, Target::Gpu);
        let mut no_twin = input(Target::Cpu, HW);
        no_twin.cpu = Err("the kernel has no CPU twin".into());
        assert!(matches!(
            decide(&no_twin),
            Err(Error::TargetUnavailable { .. })
        ));
    }

    #[test]
    fn the_reason_says_where_an_explicit_target_came_from() {
        let mut pinned = input(Target::Cpu, HW);
        pinned.source = RequestSource::Pin;
        assert_eq!(fixed(&pinned).reason, "cpu: pinned");
        pinned.source = RequestSource::Default;
        assert!(fixed(&pinned).reason.contains("default"));
    }

    #[test]
    fn a_kernel_with_one_implementation_runs_where_it_can() {
        let mut gpu_only = input(Target::Auto, SW);
        gpu_only.cpu = Err("the kernel has no CPU twin".into());
        assert_eq!(fixed(&gpu_only).target, Target::Gpu);
        gpu_only.gpu = GpuStatus::Absent("none".into());
        assert!(decide(&gpu_only).is_err());
        let mut cpu_only = input(Target::Auto, HW);
        cpu_only.has_wgsl = false;
        assert_eq!(fixed(&cpu_only).target, Target::Cpu);
    }

    #[test]
    fn grid_is_rounded_up_and_folded_only_for_linearizing_kernels() {
        assert_eq!(
            plan_grid([1000, 1, 1], [64, 1, 1], 65535, false),
            Ok([16, 1, 1])
        );
        assert_eq!(
            plan_grid([1, 1, 1], [256, 1, 1], 65535, false),
            Ok([1, 1, 1])
        );
        let n = 65535 * 64 + 1;
        assert!(plan_grid([n, 1, 1], [64, 1, 1], 65535, false).is_err());
        let [x, y, z] = plan_grid([n, 1, 1], [64, 1, 1], 65535, true).unwrap();
        assert_eq!((x, y, z), (65535, 2, 1));
        assert!(u64::from(x) * u64::from(y) * 64 >= u64::from(n));
        assert_eq!(
            plan_grid([512, 512, 1], [8, 8, 1], 65535, false),
            Ok([64, 64, 1])
        );
        assert!(plan_grid([8 * 70_000, 8, 1], [8, 8, 1], 65535, true).is_err());
    }
}
