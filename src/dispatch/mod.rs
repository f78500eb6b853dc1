//! Where a launch runs: the [`Target`] a user asks for and the policy that
//! resolves [`Target::Auto`].
//!
//! The policy is a pure function of what the kernel offers, the state of the
//! GPU and the launch's size, so it is tested without a GPU. This first policy
//! is a fixed rule: large launches go to a hardware GPU, everything else to the
//! CPU pool. The learned, transfer-aware dispatcher replaces [`decide`]'s Auto
//! branch behind the same signature.
//!
//! Invariant: an explicit `Target::Gpu` or `Target::Cpu` is honoured or fails
//! with [`Error::TargetUnavailable`]; it is never silently redirected.

use crate::error::{Error, Result};

/// Where a launch should run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Target {
    /// Let the runtime choose; the report says what it chose and why.
    #[default]
    Auto,
    /// The GPU adapter (which may be a software one such as lavapipe).
    Gpu,
    /// The runtime's CPU pool, running the kernel's Rust twin.
    Cpu,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Auto => "auto",
            Target::Gpu => "gpu",
            Target::Cpu => "cpu",
        })
    }
}

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

/// What the policy knows about the GPU right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GpuStatus {
    /// No adapter was opened; the string says why.
    Absent(String),
    /// The device was lost.
    Lost,
    /// Usable; `hardware` is false for software adapters such as lavapipe.
    Ready { hardware: bool },
}

/// Everything [`decide`] looks at.
#[derive(Clone, Debug)]
pub(crate) struct DecisionInput<'a> {
    pub kernel: &'a str,
    pub requested: Target,
    pub has_wgsl: bool,
    pub has_twin: bool,
    pub gpu: GpuStatus,
    /// `Err(why)` when the arguments exceed the device's limits.
    pub fits_gpu: std::result::Result<(), String>,
    /// Total invocations.
    pub work: u64,
    /// Auto sends launches of at least this many invocations to a hardware GPU.
    pub gpu_min_work: u64,
}

/// The policy's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub target: Target,
    pub reason: String,
}

fn gpu_unusable(input: &DecisionInput<'_>) -> Option<String> {
    if !input.has_wgsl {
        return Some("the kernel has no WGSL implementation".into());
    }
    match &input.gpu {
        GpuStatus::Absent(why) => return Some(format!("no GPU: {why}")),
        GpuStatus::Lost => return Some("the GPU device was lost".into()),
        GpuStatus::Ready { .. } => {}
    }
    input.fits_gpu.clone().err()
}

/// Resolves the requested target for one launch.
///
/// # Errors
/// [`Error::TargetUnavailable`] when an explicit target cannot run the kernel,
/// or when neither target can.
pub(crate) fn decide(input: &DecisionInput<'_>) -> Result<Decision> {
    let unavailable = |target, reason: String| Error::TargetUnavailable {
        kernel: input.kernel.into(),
        target,
        reason,
    };
    let gpu_blocker = gpu_unusable(input);
    match input.requested {
        Target::Gpu => match gpu_blocker {
            Some(why) => Err(unavailable(Target::Gpu, why)),
            None => Ok(Decision {
                target: Target::Gpu,
                reason: "gpu: requested".into(),
            }),
        },
        Target::Cpu => {
            if input.has_twin {
                Ok(Decision {
                    target: Target::Cpu,
                    reason: "cpu: requested".into(),
                })
            } else {
                Err(unavailable(
                    Target::Cpu,
                    "the kernel has no CPU twin".into(),
                ))
            }
        }
        Target::Auto => match (gpu_blocker, input.has_twin) {
            (Some(why), true) => Ok(Decision {
                target: Target::Cpu,
                reason: format!("cpu: {why}"),
            }),
            (Some(why), false) => Err(unavailable(
                Target::Auto,
                format!("the kernel has no CPU twin and {why}"),
            )),
            (None, false) => Ok(Decision {
                target: Target::Gpu,
                reason: "gpu: the kernel has no CPU twin".into(),
            }),
            (None, true) => {
                let hardware = matches!(input.gpu, GpuStatus::Ready { hardware: true });
                if !hardware {
                    Ok(Decision {
                        target: Target::Cpu,
                        reason: "cpu: the GPU adapter is a software rasterizer".into(),
                    })
                } else if input.work >= input.gpu_min_work {
                    Ok(Decision {
                        target: Target::Gpu,
                        reason: format!(
                            "gpu: {} invocations >= {} on a hardware GPU",
                            input.work, input.gpu_min_work
                        ),
                    })
                } else {
                    Ok(Decision {
                        target: Target::Cpu,
                        reason: format!(
                            "cpu: {} invocations < {}, below the GPU launch-overhead threshold",
                            input.work, input.gpu_min_work
                        ),
                    })
                }
            }
        },
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
    let groups: [u32; 3] =
        std::array::from_fn(|d| invocations[d].div_ceil(workgroup_size[d].max(1)));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn input(requested: Target, gpu: GpuStatus, work: u64) -> DecisionInput<'static> {
        DecisionInput {
            kernel: "k",
            requested,
            has_wgsl: true,
            has_twin: true,
            gpu,
            fits_gpu: Ok(()),
            work,
            gpu_min_work: 1 << 16,
        }
    }

    const HW: GpuStatus = GpuStatus::Ready { hardware: true };
    const SW: GpuStatus = GpuStatus::Ready { hardware: false };

    #[test]
    fn auto_sends_large_work_to_hardware_and_small_work_to_the_cpu() {
        assert_eq!(
            decide(&input(Target::Auto, HW, 1 << 20)).unwrap().target,
            Target::Gpu
        );
        let small = decide(&input(Target::Auto, HW, 100)).unwrap();
        assert_eq!(small.target, Target::Cpu);
        assert!(small.reason.contains("100 invocations"), "{}", small.reason);
        assert_eq!(
            decide(&input(Target::Auto, SW, 1 << 24)).unwrap().target,
            Target::Cpu
        );
    }

    #[test]
    fn auto_falls_back_to_the_cpu_and_says_why() {
        let d = decide(&input(Target::Auto, GpuStatus::Lost, 1 << 20)).unwrap();
        assert_eq!(d.target, Target::Cpu);
        assert!(d.reason.contains("lost"), "{}", d.reason);
        let mut too_big = input(Target::Auto, HW, 1 << 20);
        too_big.fits_gpu = Err("binding `x` exceeds 128 MiB".into());
        assert!(decide(&too_big).unwrap().reason.contains("128 MiB"));
    }

    #[test]
    fn explicit_targets_are_never_redirected() {
        let err = decide(&input(
            Target::Gpu,
            GpuStatus::Absent("no driver".into()),
            1,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("no driver"), "{err}");
        assert_eq!(
            decide(&input(Target::Gpu, SW, 1)).unwrap().target,
            Target::Gpu
        );
        let mut no_twin = input(Target::Cpu, HW, 1);
        no_twin.has_twin = false;
        assert!(matches!(
            decide(&no_twin),
            Err(Error::TargetUnavailable { .. })
        ));
    }

    #[test]
    fn a_kernel_with_one_implementation_runs_where_it_can() {
        let mut gpu_only = input(Target::Auto, SW, 1);
        gpu_only.has_twin = false;
        assert_eq!(decide(&gpu_only).unwrap().target, Target::Gpu);
        gpu_only.gpu = GpuStatus::Absent("none".into());
        assert!(decide(&gpu_only).is_err());
        let mut cpu_only = input(Target::Auto, HW, 1 << 30);
        cpu_only.has_wgsl = false;
        assert_eq!(decide(&cpu_only).unwrap().target, Target::Cpu);
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
