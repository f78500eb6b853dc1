//! [`Reason`]: why a launch ran where it did, written out only when read.
//!
//! Every launch carries its reason, but most callers never look at it, and
//! writing one out (two or three durations, a target name, a note) costs a
//! third of a microsecond: as much as the rest of a small CPU launch's
//! decision. So a reason keeps the few values it is made of and writes its
//! text on first use, once.
//!
//! Invariant: the text is a function of those values alone, so a reason read
//! twice, or cloned and read, says the same thing; reasons compare by text.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use super::Target;

/// Why a launch ran on its target, e.g. `cpu: predicted 0.210 ms vs gpu 3.40
/// ms (gpu: 2.90 ms upload of `pos`)`, `cpu: adapter lacks SHADER_F64` or
/// `gpu: pinned`.
///
/// It reads as a `&str` (through [`Deref`], [`Reason::as_str`] or
/// [`Display`](fmt::Display)); the text is written on first use and kept.
#[derive(Clone)]
pub struct Reason {
    parts: Parts,
    text: OnceLock<String>,
}

#[derive(Clone, Debug)]
enum Parts {
    /// `"{target}: {why}"`: an explicit request, or the one target that can
    /// run the launch.
    Settled {
        target: Target,
        why: Cow<'static, str>,
    },
    /// The learned dispatcher's comparison.
    Explained(Explanation),
}

/// What an Auto choice is explained from: `"{target}: predicted {chosen}
/// vs {other} {other time}{transfers}; {note}"`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Explanation {
    pub target: Target,
    /// Predicted seconds, `[chosen, other]`.
    pub predicted: [f64; 2],
    /// Whether each prediction comes from measurements rather than the prior,
    /// `[chosen, other]`.
    pub measured: [bool; 2],
    /// What would have to move on either target, e.g. `(gpu: 2.90 ms
    /// upload of `pos`)`.
    pub transfers: Option<TransferNote>,
    pub note: Option<&'static str>,
}

/// The transfers an Auto choice weighed: per `[cpu, gpu]` and `[upload,
/// download]`, their predicted seconds and which arguments move. The
/// arguments are kept as positions, and named only when the text is
/// written, because some target needs a transfer on most launches.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TransferNote {
    pub moves: TransferMoves,
    /// Binding names by position; without them arguments read `argument 2`.
    pub names: Option<Arc<[String]>>,
}

/// Per `[cpu, gpu]` and `[upload, download]`: predicted seconds and the
/// arguments that move.
pub(crate) type TransferMoves = [[(f64, ArgumentSet); 2]; 2];

/// A set of argument positions, without allocating: the first 64 exactly,
/// the rest as "and more" (no real kernel binds that many buffers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ArgumentSet {
    first_64: u64,
    more: bool,
}

impl ArgumentSet {
    pub fn insert(&mut self, argument: usize) {
        match u32::try_from(argument)
            .ok()
            .and_then(|i| 1u64.checked_shl(i))
        {
            Some(bit) => self.first_64 |= bit,
            None => self.more = true,
        }
    }

    fn is_empty(&self) -> bool {
        self.first_64 == 0 && !self.more
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64).filter(|i| self.first_64 & (1 << i) != 0)
    }
}

impl fmt::Display for TransferNote {
    /// ` (gpu: 2.90 ms upload of `pos`, `vel`; cpu: 0.12 ms download of `y`)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (target, per_direction) in [Target::Cpu, Target::Gpu].into_iter().zip(&self.moves) {
            for (verb, (seconds, arguments)) in
                ["upload", "download"].into_iter().zip(per_direction)
            {
                if arguments.is_empty() {
                    continue;
                }
                f.write_str(if first { " (" } else { "; " })?;
                first = false;
                write!(f, "{target}: {} {verb} of ", Millis(*seconds))?;
                for (i, argument) in arguments.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    match self.names.as_ref().and_then(|names| names.get(argument)) {
                        Some(name) => write!(f, "{separator}`{name}`")?,
                        None => write!(f, "{separator}argument {argument}")?,
                    }
                }
                if arguments.more {
                    f.write_str(" and more")?;
                }
            }
        }
        if first {
            Ok(())
        } else {
            f.write_str(")")
        }
    }
}

impl Reason {
    /// `"{target}: {why}"`.
    pub(crate) fn settled(target: Target, why: impl Into<Cow<'static, str>>) -> Reason {
        Reason::from_parts(Parts::Settled {
            target,
            why: why.into(),
        })
    }

    pub(crate) fn explained(explanation: Explanation) -> Reason {
        Reason::from_parts(Parts::Explained(explanation))
    }

    fn from_parts(parts: Parts) -> Reason {
        Reason {
            parts,
            text: OnceLock::new(),
        }
    }

    /// The text, written on the first call.
    pub fn as_str(&self) -> &str {
        self.text.get_or_init(|| self.parts.to_string())
    }
}

impl fmt::Display for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parts::Settled { target, why } => write!(f, "{target}: {why}"),
            Parts::Explained(e) => {
                let label = |measured| if measured { "" } else { " (prior)" };
                write!(
                    f,
                    "{}: predicted {}{} vs {} {}{}",
                    e.target,
                    Millis(e.predicted[0]),
                    label(e.measured[0]),
                    e.target.other(),
                    Millis(e.predicted[1]),
                    label(e.measured[1]),
                )?;
                if let Some(transfers) = &e.transfers {
                    write!(f, "{transfers}")?;
                }
                match e.note {
                    Some(note) => write!(f, "; {note}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Deref for Reason {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Reason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Reason {
    fn eq(&self, other: &Reason) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Reason {}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        let Reason { parts, text } = reason;
        text.into_inner().unwrap_or_else(|| parts.to_string())
    }
}

/// Formats seconds for explanations: `0.21 ms`, `3.4 ms`, `12 µs`.
pub(crate) fn millis(seconds: f64) -> String {
    Millis(seconds).to_string()
}

/// Seconds displayed with three or four significant digits in ms, or in µs
/// below 0.1 ms.
pub(crate) struct Millis(pub f64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0;
        if !seconds.is_finite() || seconds < 0.0 {
            return write!(f, "{seconds} s");
        }
        let ms = seconds * 1e3;
        if ms >= 100.0 {
            write!(f, "{ms:.0} ms")
        } else if ms >= 1.0 {
            write!(f, "{ms:.2} ms")
        } else if ms >= 0.1 {
            write!(f, "{ms:.3} ms")
        } else {
            write!(f, "{:.1} µs", seconds * 1e6)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU would first upload `pos` (argument 1) in 2.9 ms.
    fn uploads_of_pos() -> TransferNote {
        let mut note = TransferNote {
            names: Some(Arc::from(["vel".to_string(), "pos".to_string()])),
            ..TransferNote::default()
        };
        note.moves[1][0].0 = 2.9e-3;
        note.moves[1][0].1.insert(1);
        note
    }

    fn explanation() -> Explanation {
        Explanation {
            target: Target::Cpu,
            predicted: [0.21e-3, 3.4e-3],
            measured: [true, false],
            transfers: Some(uploads_of_pos()),
            note: Some("kept: the other target is not clearly faster"),
        }
    }

    #[test]
    fn an_explanation_reads_as_one_sentence() {
        let reason = Reason::explained(explanation());
        assert_eq!(
            reason,
            "cpu: predicted 0.210 ms vs gpu 3.40 ms (prior) (gpu: 2.90 ms upload of `pos`); \
             kept: the other target is not clearly faster"
        );
        assert_eq!(Reason::settled(Target::Gpu, "pinned"), "gpu: pinned");
    }

    #[test]
    fn transfers_name_their_arguments_by_position() {
        let mut note = uploads_of_pos();
        note.moves[1][0].1.insert(0);
        note.moves[0][1] = (0.12e-3, ArgumentSet::default());
        note.moves[0][1].1.insert(7);
        note.moves[0][1].1.insert(64);
        assert_eq!(
            note.to_string(),
            " (cpu: 0.120 ms download of argument 7 and more; gpu: 2.90 ms upload of `vel`, `pos`)"
        );
        assert_eq!(TransferNote::default().to_string(), "");
    }

    #[test]
    fn the_text_is_the_same_however_it_is_read() {
        let reason = Reason::explained(explanation());
        let unread_clone = reason.clone();
        let first = reason.to_string();
        assert_eq!(reason.as_str(), first);
        assert_eq!(format!("{reason:?}"), format!("{first:?}"));
        assert_eq!(unread_clone, reason);
        assert_eq!(String::from(unread_clone), first);
        assert_eq!(String::from(reason), first);
    }

    #[test]
    fn millis_formats_for_people() {
        assert_eq!(millis(0.21e-3), "0.210 ms");
        assert_eq!(millis(3.4e-3), "3.40 ms");
        assert_eq!(millis(12e-6), "12.0 µs");
        assert_eq!(millis(0.25), "250 ms");
        assert_eq!(millis(0.0), "0.0 µs");
        assert_eq!(millis(1.5e-6), "1.5 µs");
        assert_eq!(millis(0.0999e-3), "99.9 µs");
        assert_eq!(millis(0.9999e-3), "1.000 ms");
        assert_eq!(millis(12.345e-3), "12.35 ms");
        assert_eq!(millis(f64::NAN), "NaN s");
    }
}
