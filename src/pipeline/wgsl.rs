//! A validated WGSL kernel: its naga module, reflected layout, override
//! constants and content hash, and (made on first need) the grid-offset
//! variant that dispatches grids over the per-dispatch limit in pieces.
//!
//! Invariant: `content_hash` covers source, entry point and constants, and
//! is recomputed whenever a constant changes, so the pipeline cache and the
//! dispatcher's per-kernel records never confuse two versions of a kernel.

use std::sync::{Arc, OnceLock};

use super::reflect::{reflect, BindingInfo, BindingKind, BindingShape, KernelLayout};
use super::split;
use crate::error::Result;

/// The GPU half of a kernel: validated WGSL and its reflected layout.
#[derive(Clone, Debug)]
pub(crate) struct WgslKernel {
    pub name: String,
    pub entry_point: String,
    pub module: Arc<naga::Module>,
    pub layout: KernelLayout,
    /// `layout.buffers`' names, shared with the explanations that name them.
    pub argument_names: Arc<[String]>,
    pub constants: Vec<(String, f64)>,
    /// BLAKE3 of source, entry point and constants.
    pub content_hash: blake3::Hash,
    source: Arc<str>,
    /// The variant for grids over the dispatch limit (see
    /// `pipeline::split`), made on first need.
    grid_offset_variant: Arc<OnceLock<std::result::Result<Arc<WgslKernel>, String>>>,
}

impl WgslKernel {
    /// Parses, validates and reflects `source` (see [`reflect`]).
    ///
    /// # Errors
    /// As [`Kernel::wgsl`](crate::Kernel::wgsl).
    pub fn parse(name: &str, source: Arc<str>, entry_point: &str) -> Result<WgslKernel> {
        let (module, layout) = reflect(name, &source, entry_point)?;
        let mut wgsl = WgslKernel {
            name: name.into(),
            entry_point: entry_point.into(),
            module: Arc::new(module),
            argument_names: layout.buffers.iter().map(|b| b.name.clone()).collect(),
            layout,
            constants: Vec::new(),
            content_hash: blake3::hash(b""),
            source,
            grid_offset_variant: Arc::default(),
        };
        wgsl.rehash();
        Ok(wgsl)
    }

    /// The WGSL source, for lines in messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Sets (or replaces) the `override` constant `name`.
    pub fn set_constant(&mut self, name: String, value: f64) {
        self.constants.retain(|(n, _)| *n != name);
        self.constants.push((name, value));
        self.constants.sort_by(|a, b| a.0.cmp(&b.0));
        self.rehash();
    }

    fn rehash(&mut self) {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.source.as_bytes());
        hasher.update(&[0]);
        hasher.update(self.entry_point.as_bytes());
        for (name, value) in &self.constants {
            hasher.update(&[0]);
            hasher.update(name.as_bytes());
            hasher.update(&value.to_le_bytes());
        }
        self.content_hash = hasher.finalize();
        self.grid_offset_variant = Arc::default();
    }

    /// This kernel with its entry point wrapped to take a grid offset, for
    /// launches split into several dispatches (see `pipeline::split`): the
    /// offset uniform is bound at `@group(n) @binding(0)`, `n` the first
    /// group the kernel does not use, and comes after the kernel's own
    /// uniforms in the layout.
    ///
    /// # Errors
    /// Why the variant cannot be made.
    pub fn grid_offset_variant(&self) -> std::result::Result<&Arc<WgslKernel>, &str> {
        self.grid_offset_variant
            .get_or_init(|| {
                let group = self.layout.group_count();
                let module = split::with_grid_offset(&self.module, &self.entry_point, group)?;
                let mut layout = self.layout.clone();
                layout.uniforms.push(BindingInfo {
                    group,
                    binding: 0,
                    name: split::GRID_OFFSET_NAME.into(),
                    kind: BindingKind::Uniform,
                    shape: BindingShape::Sized {
                        bytes: split::GRID_OFFSET_BYTES,
                    },
                });
                let mut hasher = blake3::Hasher::new();
                hasher.update(self.content_hash.as_bytes());
                hasher.update(b"grid offset variant");
                Ok(Arc::new(WgslKernel {
                    module: Arc::new(module),
                    layout,
                    content_hash: hasher.finalize(),
                    grid_offset_variant: Arc::default(),
                    ..self.clone()
                }))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}
