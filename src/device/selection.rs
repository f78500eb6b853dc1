//! Adapter choice as a pure function over what wgpu enumerated.
//!
//! Kept apart from wgpu so the order (hardware GPU, then a software adapter,
//! then GL) and the environment overrides are tested on machines with no
//! adapter at all.

use crate::error::{Error, Result};

/// Which backends the runtime may open, from `SWITCHYARD_BACKEND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// Primary backends (Vulkan here) first, GL only if they offer nothing.
    #[default]
    Auto,
    /// Vulkan only.
    Vulkan,
    /// OpenGL (through EGL) only.
    Gl,
    /// No GPU: the runtime runs CPU-only.
    None,
}

impl BackendChoice {
    /// Parses `auto`, `vulkan`, `gl` or `none` (case-insensitive).
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) naming `SWITCHYARD_BACKEND` for any other value.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendChoice::Auto),
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            "none" | "cpu" => Ok(BackendChoice::None),
            _ => Err(Error::Config {
                key: "SWITCHYARD_BACKEND".into(),
                value: value.into(),
                message: "expected one of auto, vulkan, gl, none".into(),
            }),
        }
    }
}

/// The kind of adapter, in the order the runtime prefers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdapterKind {
    /// A discrete GPU.
    DiscreteGpu,
    /// A GPU sharing memory with the CPU.
    IntegratedGpu,
    /// A GPU exposed through a hypervisor.
    VirtualGpu,
    /// A software rasterizer running on the CPU, e.g. Mesa lavapipe.
    Software,
    /// The driver did not say.
    Other,
}

impl AdapterKind {
    /// Whether this is real GPU hardware (not a software rasterizer).
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            AdapterKind::DiscreteGpu | AdapterKind::IntegratedGpu | AdapterKind::VirtualGpu
        )
    }
}

impl From<wgpu::DeviceType> for AdapterKind {
    fn from(device_type: wgpu::DeviceType) -> Self {
        match device_type {
            wgpu::DeviceType::DiscreteGpu => AdapterKind::DiscreteGpu,
            wgpu::DeviceType::IntegratedGpu => AdapterKind::IntegratedGpu,
            wgpu::DeviceType::VirtualGpu => AdapterKind::VirtualGpu,
            wgpu::DeviceType::Cpu => AdapterKind::Software,
            wgpu::DeviceType::Other => AdapterKind::Other,
        }
    }
}

/// What the chooser needs to know of one enumerated adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The adapter's name as the driver reports it.
    pub name: String,
    /// Its kind.
    pub kind: AdapterKind,
}

/// Index of the best candidate, or `None` when none qualifies.
///
/// `name_filter` (from `SWITCHYARD_ADAPTER`) keeps only adapters whose name
/// contains it, ignoring case. Among the rest the kind decides, hardware
/// first; ties keep enumeration order so the driver's own preference stands.
///
/// A filter ending in `#K` (K a whole number, e.g. `nvidia#2` or just `#1`)
/// picks the K-th (from 0) of the adapters that match the part before it,
/// in enumeration order: the way to give each of several identical GPUs its
/// own process, one MPI rank per GPU.
pub fn choose(candidates: &[Candidate], name_filter: Option<&str>) -> Option<usize> {
    let filter = name_filter.map(str::to_ascii_lowercase);
    let numbered = filter.as_deref().and_then(|f| {
        let (name, k) = f.rsplit_once('#')?;
        Some((name, k.trim().parse::<usize>().ok()?))
    });
    let (name, position) = match numbered {
        Some((name, k)) => (Some(name), Some(k)),
        None => (filter.as_deref(), None),
    };
    let mut matching = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| name.is_none_or(|name| c.name.to_ascii_lowercase().contains(name)));
    match position {
        Some(k) => matching.nth(k),
        None => matching.min_by_key(|(index, c)| (c.kind, *index)),
    }
    .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(name: &str, kind: AdapterKind) -> Candidate {
        Candidate {
            name: name.into(),
            kind,
        }
    }

    #[test]
    fn hardware_beats_software_whatever_the_order() {
        let list = [
            candidate("llvmpipe (LLVM 15.0.6, 256 bits)", AdapterKind::Software),
            candidate("NVIDIA H200", AdapterKind::DiscreteGpu),
            candidate("Intel UHD", AdapterKind::IntegratedGpu),
        ];
        assert_eq!(choose(&list, None), Some(1));
    }

    #[test]
    fn a_position_after_hash_picks_among_identical_adapters() {
        let list = [
            candidate("llvmpipe", AdapterKind::Software),
            candidate("NVIDIA H200", AdapterKind::DiscreteGpu),
            candidate("NVIDIA H200", AdapterKind::DiscreteGpu),
        ];
        assert_eq!(choose(&list, Some("nvidia#0")), Some(1));
        assert_eq!(choose(&list, Some("NVIDIA#1")), Some(2));
        assert_eq!(choose(&list, Some("nvidia#2")), None, "only two match");
        assert_eq!(choose(&list, Some("#0")), Some(0), "position among all");
        assert_eq!(choose(&list, Some("h200")), Some(1));
        // Not a number after the hash: the whole text is the name.
        assert_eq!(choose(&list, Some("nvidia#x")), None);
    }

    #[test]
    fn software_adapter_is_used_when_it_is_all_there_is() {
        let list = [candidate("llvmpipe", AdapterKind::Software)];
        assert_eq!(choose(&list, None), Some(0));
        assert_eq!(choose(&[], None), None);
    }

    #[test]
    fn name_filter_is_a_case_insensitive_substring() {
        let list = [
            candidate("NVIDIA H200", AdapterKind::DiscreteGpu),
            candidate("llvmpipe (LLVM 15)", AdapterKind::Software),
        ];
        assert_eq!(choose(&list, Some("LLVMPIPE")), Some(1));
        assert_eq!(choose(&list, Some("radeon")), None);
    }

    #[test]
    fn backend_choice_parses_and_rejects_with_the_variable_name() {
        assert_eq!(
            BackendChoice::parse("Vulkan").unwrap(),
            BackendChoice::Vulkan
        );
        assert_eq!(BackendChoice::parse("gl").unwrap(), BackendChoice::Gl);
        assert_eq!(BackendChoice::parse("none").unwrap(), BackendChoice::None);
        assert_eq!(BackendChoice::parse("").unwrap(), BackendChoice::Auto);
        let err = BackendChoice::parse("metal").unwrap_err().to_string();
        assert!(
            err.contains("SWITCHYARD_BACKEND") && err.contains("metal"),
            "{err}"
        );
    }
}
