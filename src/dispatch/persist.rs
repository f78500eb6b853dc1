//! The learned dispatch model on disk, so the second run of a program decides
//! well from its first launch.
//!
//! One file per machine (the adapter's fingerprint and the CPU pool's thread
//! count, since both change every timing), named by a hash of that identity,
//! inside the runtime's cache directory. The payload is line-oriented text,
//! readable for anyone curious what was learned:
//!
//! ```text
//! machine <identity>
//! link upload <bytes> <seconds>
//! sample <kernel key> cpu <work> <seconds>
//! ```
//!
//! It is wrapped in a [`cache_file`](crate::cache_file) (magic, checksum,
//! atomic write). A damaged file, one from another version, or one whose
//! `machine` line names another machine is ignored with a warning; a line
//! that does not parse spoils the whole file, since it means the writer was
//! not this code.

use std::path::{Path, PathBuf};

use super::policy::{Direction, Dispatcher};
use super::Target;
use crate::cache_file::{read_checked, write_checked};
use crate::error::Result;

const MAGIC: &[u8; 8] = b"SWYDSP01";

/// The file the model of `identity` lives in, under `dir`.
pub(crate) fn model_path(dir: &Path, identity: &str) -> PathBuf {
    let hash = blake3::hash(identity.as_bytes()).to_hex();
    dir.join(format!("dispatch-{}.txt", &hash[..16]))
}

/// Spaces, `%` and line breaks escaped, so every field is one word.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            ' ' => out.push_str("%20"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            '\t' => out.push_str("%09"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(word: &str) -> String {
    word.replace("%20", " ")
        .replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%09", "\t")
        .replace("%25", "%")
}

/// The model as text.
pub(crate) fn encode(dispatcher: &Dispatcher, identity: &str) -> String {
    let mut text = format!("machine {}\n", escape(identity));
    for (direction, history) in [
        ("upload", &dispatcher.links[0]),
        ("download", &dispatcher.links[1]),
    ] {
        for (bytes, seconds) in history.samples() {
            text.push_str(&format!("link {direction} {bytes} {seconds:e}\n"));
        }
    }
    let mut keys: Vec<&String> = dispatcher.kernels.keys().collect();
    keys.sort();
    for key in keys {
        let record = &dispatcher.kernels[key];
        for (target, history) in [("cpu", &record.models[0]), ("gpu", &record.models[1])] {
            for (work, seconds) in history.samples() {
                text.push_str(&format!(
                    "sample {} {target} {work} {seconds:e}\n",
                    escape(key)
                ));
            }
        }
    }
    text
}

/// Restores what `text` holds into `dispatcher`.
///
/// # Errors
/// Why the text was rejected: another machine, or a malformed line.
pub(crate) fn decode(
    text: &str,
    identity: &str,
    dispatcher: &mut Dispatcher,
) -> std::result::Result<usize, String> {
    let mut lines = text.lines();
    match lines.next().and_then(|l| l.strip_prefix("machine ")) {
        Some(machine) if unescape(machine) == identity => {}
        Some(machine) => {
            return Err(format!(
                "it was learned on another machine ({})",
                unescape(machine)
            ))
        }
        None => return Err("it has no machine line".into()),
    }
    let mut restored = Dispatcher::new(dispatcher.config, dispatcher.machine);
    let mut samples = 0;
    for (number, line) in lines.enumerate() {
        let bad = || format!("line {} is malformed: {line:?}", number + 2);
        let words: Vec<&str> = line.split(' ').collect();
        let number_at = |i: usize| -> std::result::Result<f64, String> {
            words
                .get(i)
                .and_then(|w| w.parse::<f64>().ok())
                .ok_or_else(bad)
        };
        let size_at = |i: usize| -> std::result::Result<u64, String> {
            words
                .get(i)
                .and_then(|w| w.parse::<u64>().ok())
                .ok_or_else(bad)
        };
        match words.as_slice() {
            ["link", direction, _, _] => {
                let direction = match *direction {
                    "upload" => Direction::Upload,
                    "download" => Direction::Download,
                    _ => return Err(bad()),
                };
                let (bytes, seconds) = (size_at(2)?, number_at(3)?);
                restored.restore_transfer(direction, bytes, seconds);
            }
            ["sample", key, target, _, _] => {
                let target = match *target {
                    "cpu" => Target::Cpu,
                    "gpu" => Target::Gpu,
                    _ => return Err(bad()),
                };
                let (work, seconds) = (size_at(3)?, number_at(4)?);
                restored.restore_sample(&unescape(key), target, work, seconds);
            }
            [""] => continue,
            _ => return Err(bad()),
        }
        samples += 1;
    }
    dispatcher.kernels = restored.kernels;
    dispatcher.links = restored.links;
    Ok(samples)
}

/// Loads the model for `identity` from `dir` into `dispatcher`; returns the
/// samples restored (0 when there was no usable file, with a warning if one
/// existed but was rejected).
pub(crate) fn load(dir: &Path, identity: &str, dispatcher: &mut Dispatcher) -> usize {
    let path = model_path(dir, identity);
    let Some(payload) = read_checked(&path, MAGIC, "dispatch model") else {
        return 0;
    };
    let decoded = String::from_utf8(payload)
        .map_err(|_| "it is not text".to_string())
        .and_then(|text| decode(&text, identity, dispatcher));
    match decoded {
        Ok(samples) => samples,
        Err(why) => {
            log::warn!(
                "switchyard: ignoring dispatch model {}: {why}",
                path.display()
            );
            0
        }
    }
}

/// Writes the model for `identity` under `dir`; returns the file.
///
/// # Errors
/// [`Error::CacheIo`](crate::Error::CacheIo) naming the file.
pub(crate) fn save(dir: &Path, identity: &str, dispatcher: &Dispatcher) -> Result<PathBuf> {
    let path = model_path(dir, identity);
    write_checked(&path, MAGIC, encode(dispatcher, identity).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::policy::{Machine, Outcome, PolicyConfig};

    const MACHINE: Machine = Machine {
        gpu_hardware: true,
        cpu_threads: 2,
    };

    fn trained() -> Dispatcher {
        let mut d = Dispatcher::new(PolicyConfig::default(), MACHINE);
        for (target, seconds) in [(Target::Cpu, 2e-3), (Target::Gpu, 0.3e-3)] {
            for _ in 0..3 {
                d.observe(
                    "nbody step#ab12",
                    &Outcome::measured(target, 1 << 20, seconds),
                );
            }
        }
        d.observe_transfer(Direction::Download, 1 << 20, 0.5e-3);
        d
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_saved_model_decides_the_same_after_loading() {
        let dir = temp_dir("roundtrip");
        let original = trained();
        save(&dir, "adapter A / 2 threads", &original).unwrap();
        let mut loaded = Dispatcher::new(PolicyConfig::default(), MACHINE);
        assert_eq!(load(&dir, "adapter A / 2 threads", &mut loaded), 5);
        let key = "nbody step#ab12";
        for target in [0, 1] {
            assert_eq!(
                loaded.kernels[key].models[target].predict(1 << 20),
                original.kernels[key].models[target].predict(1 << 20)
            );
        }
        assert_eq!(
            loaded.transfer_seconds(Direction::Download, 1 << 20),
            original.transfer_seconds(Direction::Download, 1 << 20)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_stale_or_foreign_models_are_ignored() {
        let dir = temp_dir("corrupt");
        let path = save(&dir, "adapter A", &trained()).unwrap();
        let mut fresh = Dispatcher::new(PolicyConfig::default(), MACHINE);
        // Another machine's identity maps to another file; force the check by
        // decoding directly.
        let text = encode(&trained(), "adapter A");
        assert!(decode(&text, "adapter B", &mut fresh)
            .unwrap_err()
            .contains("another machine"));
        let broken = text.replace(" cpu ", " tpu ");
        assert!(decode(&broken, "adapter A", &mut fresh)
            .unwrap_err()
            .contains("malformed"));
        // A flipped byte on disk fails the checksum.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(load(&dir, "adapter A", &mut fresh), 0);
        assert!(fresh.kernels.is_empty() && fresh.links.iter().all(|l| l.is_empty()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_with_spaces_and_percents_survive() {
        for name in ["plain", "two words", "100%", "a\tb\nc", "%20"] {
            assert_eq!(unescape(&escape(name)), name);
            assert!(!escape(name).contains(' '));
        }
    }
}
