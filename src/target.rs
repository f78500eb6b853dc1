//! [`Target`]: where a launch runs, and [`CpuImplementation`]: what ran
//! there when it was the CPU. The bottom layer, so the error type can
//! name targets; parsing one from text lives in `dispatch`, above the error
//! layer it reports into.

/// Where a launch should run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Target {
    /// Let the runtime choose; the report says what it chose and why.
    #[default]
    Auto,
    /// The GPU adapter (which may be a software one such as lavapipe).
    Gpu,
    /// The runtime's CPU pool, running the kernel's Rust twin, or its WGSL
    /// on the executor when it has no twin.
    Cpu,
}

/// How a launch ran on the CPU pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuImplementation {
    /// The kernel's Rust twin.
    Twin,
    /// The kernel's WGSL, on switchyard's executor.
    Wgsl,
}

impl std::fmt::Display for CpuImplementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CpuImplementation::Twin => "twin",
            CpuImplementation::Wgsl => "wgsl",
        })
    }
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

impl Target {
    /// The other concrete target: `Gpu` for `Cpu` and the reverse (`Auto`
    /// counts as `Cpu`, the target that always exists).
    pub(crate) fn other(self) -> Target {
        match self {
            Target::Gpu => Target::Cpu,
            _ => Target::Gpu,
        }
    }
}
