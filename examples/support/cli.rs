//! Command-line pieces the examples share through `#[path]`: the argument
//! loop (over `lexopt`), target names and the progress bar. JSON output is
//! `serde_json`'s.

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

/// `value` as JSON shows it: the shortest decimal that reads back as the
/// same `f32` (`0.24`, not `0.23999999463558197`).
pub fn f32_json(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// Parses a number option's value, naming the option when it is not one.
pub fn number<T: std::str::FromStr>(option: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{option}: `{text}` is not a valid number"))
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

/// The whole of an example's `main`: warnings logged to stderr (more with
/// `RUST_LOG`), then `parse` and `run`; a message and exit code 2 for bad
/// arguments, 1 for a failed run.
pub fn main_with<O>(
    program: &str,
    parse: impl FnOnce() -> Result<O, String>,
    run: impl FnOnce(&O) -> Result<(), String>,
) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{program}: {message}");
            std::process::exit(2);
        }
    };
    if let Err(message) = run(&options) {
        eprintln!("{program}: {message}");
        std::process::exit(1);
    }
}

/// The options every simulation demo takes: how long, where, how often to
/// submit, and what to write.
pub struct RunOptions {
    pub steps: usize,
    pub target: Option<Target>,
    /// Steps per sequence (one GPU submission each); at least 1.
    pub batch: usize,
    pub png: Option<std::path::PathBuf>,
    pub json: bool,
    /// `--cpu wgsl`: CPU launches run the kernels' WGSL on switchyard's
    /// executor instead of their Rust twins.
    pub wgsl_on_cpu: bool,
}

impl RunOptions {
    /// Defaults: `steps` and `batch` as given, the runtime's target, no
    /// picture, text output.
    pub fn new(steps: usize, batch: usize) -> RunOptions {
        RunOptions {
            steps,
            target: None,
            batch,
            png: None,
            json: false,
            wgsl_on_cpu: false,
        }
    }
}

/// The value that follows an option on the command line.
pub type NextValue<'a> = &'a mut dyn FnMut() -> Result<String, String>;

/// Reads the command line: each argument is offered to `demo` (which
/// answers whether it took it), then to the shared [`RunOptions`]; `--help`
/// points to `help_file`, whose header documents the options.
pub fn parse_args(
    run: &mut RunOptions,
    help_file: &str,
    mut demo: impl FnMut(&str, NextValue<'_>) -> Result<bool, String>,
) -> Result<(), String> {
    for_each_arg(help_file, |arg, value| {
        if demo(arg, &mut *value)? {
            return Ok(true);
        }
        match arg {
            "--steps" => run.steps = number(arg, &value()?)?,
            "--batch" => run.batch = number(arg, &value()?)?,
            "--target" => run.target = Some(parse_target(&value()?)?),
            "--png" => run.png = Some(std::path::PathBuf::from(value()?)),
            "--json" => run.json = true,
            "--cpu" => {
                run.wgsl_on_cpu = match value()?.as_str() {
                    "wgsl" => true,
                    "twin" => false,
                    other => return Err(format!("--cpu: `{other}` is not wgsl or twin")),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    run.batch = run.batch.max(1);
    Ok(())
}

/// Offers each command-line argument to `take` (which answers whether it
/// took it, reading the option's value through the second argument);
/// `--help` points to `help_file`, whose header documents the options, and
/// anything not taken is an error.
///
/// Options come as `--name value` or `--name=value`; a value that is not
/// text, a stray positional argument or a value given to a flag is an error
/// naming it.
pub fn for_each_arg(
    help_file: &str,
    mut take: impl FnMut(&str, NextValue<'_>) -> Result<bool, String>,
) -> Result<(), String> {
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        let name = match arg {
            lexopt::Arg::Long(name) => format!("--{name}"),
            lexopt::Arg::Short(letter) => format!("-{letter}"),
            lexopt::Arg::Value(value) => {
                return Err(format!("unexpected argument `{}`", value.to_string_lossy()))
            }
        };
        let mut value = || -> Result<String, String> {
            let value = parser.value().map_err(|e| format!("{name}: {e}"))?;
            value
                .into_string()
                .map_err(|v| format!("{name}: `{}` is not valid text", v.to_string_lossy()))
        };
        if take(&name, &mut value)? {
            continue;
        }
        if name == "--help" || name == "-h" {
            println!("see the table at the top of {help_file}");
            std::process::exit(0);
        }
        return Err(format!("unknown argument `{name}`"));
    }
    Ok(())
}
