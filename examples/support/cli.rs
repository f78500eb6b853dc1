//! Command-line pieces the examples share through `#[path]`: target names,
//! JSON strings and the progress bar.

#![allow(dead_code)] // each example uses its own part

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use switchyard::Target;

/// Parses `auto`, `gpu` or `cpu`.
pub fn parse_target(text: &str) -> Result<Target, String> {
    match text {
        "auto" => Ok(Target::Auto),
        "gpu" => Ok(Target::Gpu),
        "cpu" => Ok(Target::Cpu),
        other => Err(format!("--target: `{other}` is not auto, gpu or cpu")),
    }
}

/// The name [`parse_target`] accepts.
pub fn target_name(target: Target) -> &'static str {
    match target {
        Target::Auto => "auto",
        Target::Gpu => "gpu",
        Target::Cpu => "cpu",
    }
}

/// Parses a number option's value, naming the option when it is not one.
pub fn number<T: std::str::FromStr>(option: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{option}: `{text}` is not a valid number"))
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A bar counting `steps`, hidden for machine-readable output or when
/// stdout is not a terminal.
pub fn progress_bar(steps: usize, machine_readable: bool) -> ProgressBar {
    if machine_readable || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} steps, {per_sec}, eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(steps as u64).with_style(style)
}
