//! Checking a Rust twin against its own shader, with no GPU:
//! [`Launch::check_twin`].
//!
//! The launch runs twice on the CPU pool over the same inputs: once with
//! the twin, once with the kernel's WGSL on the executor. Every written
//! buffer is snapshotted first and restored between the runs, and is left
//! holding the twin's results, so a check changes nothing a plain CPU
//! launch would not.

use std::fmt;

use super::{Arg, Launch, LaunchReport};
use crate::dispatch::Target;
use crate::error::{Error, Result};
use crate::kernel::Kernel;

/// How far a twin's results are from its shader's, per written buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwinCheck {
    /// The kernel's name.
    pub kernel: String,
    /// One entry per written buffer argument, in argument order.
    pub outputs: Vec<OutputDifference>,
}

/// The difference between twin and shader in one written buffer.
///
/// Elements are compared by the buffer's element type: `f32` and `f64`
/// elements (and arrays and structs whose type names mention only one of
/// them) word by word in ulps, with NaN equal to NaN and `-0` equal to `0`;
/// everything else word by word (4 bytes) as unsigned integers, where the
/// difference is the absolute difference of the words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputDifference {
    /// The buffer argument's index.
    pub argument: usize,
    /// Its binding's name in the shader.
    pub name: String,
    /// Its element type, as `std::any::type_name` spells it.
    pub element_type: &'static str,
    /// The largest difference, in ulps (floats) or units (integers).
    pub max_ulps: u64,
    /// The word where it is largest, if any differs.
    pub worst_word: Option<usize>,
    /// How many words differ at all.
    pub differing_words: usize,
}

impl TwinCheck {
    /// The largest difference over every output.
    pub fn max_ulps(&self) -> u64 {
        self.outputs.iter().map(|o| o.max_ulps).max().unwrap_or(0)
    }
}

impl fmt::Display for TwinCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: twin vs wgsl", self.kernel)?;
        for o in &self.outputs {
            write!(
                f,
                "; `{}` ({}): {} words differ, at most {} ulps",
                o.name, o.element_type, o.differing_words, o.max_ulps
            )?;
            if let Some(word) = o.worst_word {
                write!(f, " (word {word})")?;
            }
        }
        Ok(())
    }
}

impl Launch<'_> {
    /// Runs this launch on the CPU twice, with the kernel's Rust twin and
    /// with its WGSL on switchyard's executor, over the same inputs, and
    /// reports how far each written buffer's results differ. The buffers
    /// are left holding the twin's results.
    ///
    /// This checks a twin without any GPU: in a unit test, in CI on a
    /// machine without a driver.
    ///
    /// # Errors
    /// [`Error::TargetUnavailable`] when the kernel lacks a twin or WGSL the
    /// executor runs; any error either run returns (argument checks, the
    /// twin's own errors), with the buffers as that run left them.
    pub fn check_twin(mut self) -> Result<TwinCheck> {
        let kernel = self.kernel;
        if !kernel.has_twin() || !kernel.has_gpu() {
            return Err(Error::TargetUnavailable {
                kernel: kernel.name().into(),
                target: Target::Cpu,
                reason: "a twin check needs both a Rust twin and WGSL".into(),
            });
        }
        let wgsl_kernel = kernel.clone().prefer_wgsl_on_cpu();
        let written: Vec<usize> = (0..self.buffers.len())
            .filter(|&i| matches!(self.buffers[i], Arg::Write(..)))
            .collect();
        let inputs = self.written_bytes(&written)?;
        self.run_again(kernel)?;
        let twin = self.written_bytes(&written)?;
        self.restore(&written, &inputs);
        self.run_again(&wgsl_kernel)?;
        let wgsl = self.written_bytes(&written)?;
        self.restore(&written, &twin);

        let names = kernel.wgsl_part().map(|w| w.argument_names.clone());
        let outputs = written
            .iter()
            .zip(twin.iter().zip(&wgsl))
            .map(|(&argument, (a, b))| {
                let element_type = self.buffers[argument].raw().type_name;
                let mut difference = compare(element_type, a, b);
                difference.argument = argument;
                difference.name = names
                    .as_ref()
                    .and_then(|n| n.get(argument).cloned())
                    .unwrap_or_else(|| format!("argument {argument}"));
                difference
            })
            .collect();
        Ok(TwinCheck {
            kernel: kernel.name().into(),
            outputs,
        })
    }

    fn written_bytes(&self, written: &[usize]) -> Result<Vec<Vec<u8>>> {
        written
            .iter()
            .map(|&i| self.buffers[i].raw().read_bytes())
            .collect()
    }

    fn restore(&mut self, written: &[usize], contents: &[Vec<u8>]) {
        for (&i, bytes) in written.iter().zip(contents) {
            if let Arg::Write(raw, _) = &mut self.buffers[i] {
                raw.write_bytes(bytes);
            }
        }
    }

    /// This launch's arguments, run on the CPU with `kernel`.
    fn run_again(&mut self, kernel: &Kernel) -> Result<LaunchReport> {
        let buffers = self
            .buffers
            .iter_mut()
            .map(|arg| match arg {
                Arg::Read(raw) => Arg::Read(raw),
                Arg::Write(raw, usage) => Arg::Write(raw, *usage),
            })
            .collect();
        Launch {
            shared: self.shared,
            kernel,
            buffers,
            uniforms: self.uniforms.clone(),
            invocations: self.invocations,
            target: Some(Target::Cpu),
            work: self.work,
            deadline: self.deadline,
            sequence: None,
            split: None,
        }
        .run()
    }
}

/// Word-by-word difference of `a` and `b`, elements of `element_type`.
fn compare(element_type: &'static str, a: &[u8], b: &[u8]) -> OutputDifference {
    let wide = element_type.contains("f64") && !element_type.contains("f32");
    let float = element_type.contains("f32") || wide;
    let word = if wide { 8 } else { 4 };
    let mut difference = OutputDifference {
        argument: 0,
        name: String::new(),
        element_type,
        max_ulps: 0,
        worst_word: None,
        differing_words: 0,
    };
    for (index, (x, y)) in a.chunks(word).zip(b.chunks(word)).enumerate() {
        let (x, y) = (widen(x), widen(y));
        let ulps = match (float, wide) {
            (true, true) => ulps_f64(x, y),
            (true, false) => ulps_f32(x as u32, y as u32),
            (false, _) => x.abs_diff(y),
        };
        if ulps > 0 {
            difference.differing_words += 1;
            if ulps > difference.max_ulps {
                difference.max_ulps = ulps;
                difference.worst_word = Some(index);
            }
        }
    }
    difference
}

/// Up to 8 little-endian bytes as a number.
fn widen(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
    u64::from_le_bytes(word)
}

fn ulps_f32(a: u32, b: u32) -> u64 {
    if f32::from_bits(a).is_nan() && f32::from_bits(b).is_nan() {
        return 0;
    }
    // Adjacent floats are adjacent on this line; -0 and 0 meet at 0.
    let line = |bits: u32| -> i64 {
        let magnitude = i64::from(bits & 0x7fff_ffff);
        if bits >> 31 == 1 {
            -magnitude
        } else {
            magnitude
        }
    };
    line(a).abs_diff(line(b))
}

fn ulps_f64(a: u64, b: u64) -> u64 {
    if f64::from_bits(a).is_nan() && f64::from_bits(b).is_nan() {
        return 0;
    }
    let line = |bits: u64| -> i128 {
        let magnitude = i128::from(bits & 0x7fff_ffff_ffff_ffff);
        if bits >> 63 == 1 {
            -magnitude
        } else {
            magnitude
        }
    };
    line(a).abs_diff(line(b)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_compared_in_ulps_and_integers_in_units() {
        let one = 1.0f32.to_bits();
        let next = f32::from_bits(one + 3).to_bits();
        assert_eq!(ulps_f32(one, next), 3);
        assert_eq!(ulps_f32(0, 0x8000_0000), 0, "-0 equals 0");
        assert_eq!(ulps_f32(1, 0x8000_0001), 2, "across zero");
        assert_eq!(ulps_f32(f32::NAN.to_bits(), 0x7fc0_0001), 0);
        let a: Vec<u8> = [1.0f32, 2.0, 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b: Vec<u8> = [1.0f32, f32::from_bits(2.0f32.to_bits() + 5), 3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let d = compare("f32", &a, &b);
        assert_eq!(
            (d.max_ulps, d.worst_word, d.differing_words),
            (5, Some(1), 1)
        );
        let d = compare("u32", &7u32.to_le_bytes(), &3u32.to_le_bytes());
        assert_eq!(d.max_ulps, 4);
        let x = 1.5f64.to_bits();
        let d = compare("f64", &x.to_le_bytes(), &(x + 2).to_le_bytes());
        assert_eq!(d.max_ulps, 2);
    }
}
