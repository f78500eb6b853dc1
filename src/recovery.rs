//! Device-loss recovery: the log of GPU work not yet known to have finished,
//! and settling it on the CPU once the device is gone.
//!
//! A GPU launch inside a [`Sequence`](crate::Sequence) is recorded, not
//! waited for, and what it writes then lives only in device memory. The
//! launch path logs a [`ReplayEntry`] for each: a boxed [`Replay`] that
//! names the kernel and re-runs the launch on the host copies if that
//! reproduces exactly what the GPU would have computed (see `launch::replay`). The
//! device keeps the entries in a [`ReplayLog`] beside its pending commands,
//! moves them to "in flight" with the submission that carries them, and
//! drops them when a wait shows that submission finished.
//!
//! When the device is lost first, [`Recovery::settle`] takes the whole log
//! and runs every entry, in the order they were logged, counting what was
//! re-run, what had been superseded by newer host data and what is lost.
//!
//! This layer sits below the device and the buffers and knows neither: an
//! entry is opaque work behind the [`Replay`] trait, so the log and the
//! settling rules are tested without a GPU. Invariant: one settle runs at a time, so a thread
//! that finds the log empty knows every logged launch has been settled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::Error;
use crate::sync::lock;

/// What re-running one logged launch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replayed {
    /// The launch ran on the CPU and its outputs hold what the GPU would
    /// have written.
    Ran,
    /// Every output had been overwritten on the host since; nothing to do.
    Superseded,
}

/// A GPU launch recorded and not yet known to have finished, as the layer
/// that logged it knows how to re-run it.
pub(crate) trait Replay: Send {
    /// The kernel's name, for the summary.
    fn kernel(&self) -> &str;
    /// Re-runs the launch, or says why it cannot be reproduced.
    fn replay(self: Box<Self>) -> std::result::Result<Replayed, String>;
}

/// One logged launch (one allocation per launch: this box).
pub(crate) type ReplayEntry = Box<dyn Replay>;

impl std::fmt::Debug for dyn Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayEntry")
            .field("kernel", &self.kernel())
            .finish_non_exhaustive()
    }
}

/// Logged launches: recorded into commands not yet submitted, and in flight
/// with the number of the submission that carries them.
#[derive(Debug, Default)]
pub(crate) struct ReplayLog {
    recorded: Vec<ReplayEntry>,
    in_flight: Vec<(u64, ReplayEntry)>,
}

impl ReplayLog {
    /// Logs a launch whose commands wait for the next submission.
    pub fn log_recorded(&mut self, entry: ReplayEntry) {
        self.recorded.push(entry);
    }

    /// Logs a launch whose commands went out in submission `number` (or
    /// earlier: an entry may be kept longer than needed, never dropped too
    /// early).
    pub fn log_submitted(&mut self, number: u64, entry: ReplayEntry) {
        self.in_flight.push((number, entry));
    }

    /// The recorded launches went out in submission `number`.
    pub fn submitted(&mut self, number: u64) {
        let recorded = std::mem::take(&mut self.recorded);
        self.in_flight
            .extend(recorded.into_iter().map(|entry| (number, entry)));
    }

    /// Removes and returns the launches of submissions up to `number`, which
    /// a wait has shown finished. The caller drops them outside its lock:
    /// the last hold on a buffer's state gives its device copy back to the
    /// pool, which takes locks of its own.
    pub fn take_finished(&mut self, number: u64) -> Vec<ReplayEntry> {
        if self.in_flight.is_empty() {
            return Vec::new();
        }
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(submission, _)| *submission <= number);
        self.in_flight = running;
        done.into_iter().map(|(_, entry)| entry).collect()
    }

    /// Whether any logged launch is not known to have finished.
    pub fn is_empty(&self) -> bool {
        self.recorded.is_empty() && self.in_flight.is_empty()
    }

    /// Every logged launch, in the order logged per list: in flight first
    /// (submitted earlier), then recorded. A thread's own launches stay in
    /// program order.
    pub fn take_all(&mut self) -> Vec<ReplayEntry> {
        let mut entries: Vec<ReplayEntry> = std::mem::take(&mut self.in_flight)
            .into_iter()
            .map(|(_, entry)| entry)
            .collect();
        entries.append(&mut self.recorded);
        entries
    }
}

/// What [`Recovery::settle`] did.
#[derive(Debug, Default)]
pub(crate) struct ReplaySummary {
    /// Entries re-run on the CPU.
    pub replayed: usize,
    /// Entries whose writes had all been overwritten on the host since.
    pub superseded: usize,
    /// Entries that could not be re-run, each as "`kernel`: why".
    pub lost: Vec<String>,
}

impl ReplaySummary {
    /// The error to report when some lost work could not be re-run.
    pub fn error(&self) -> Option<Error> {
        if self.lost.is_empty() {
            return None;
        }
        Some(Error::DeviceLost {
            reason: "Replay".into(),
            message: format!(
                "{} GPU launch(es) lost with the device could not be re-run on the CPU, so \
                 what they wrote is gone: {}",
                self.lost.len(),
                self.lost.join("; ")
            ),
        })
    }
}

/// Settling state of one runtime: one settle at a time, and a count of the
/// launches re-run so far.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    replay_lock: Mutex<()>,
    replayed: AtomicU64,
}

impl Recovery {
    /// Takes the log (through `take_log`, called under the settle lock) and
    /// runs every entry in order. Call it before locking any buffer: the
    /// entries lock the buffers they use.
    pub fn settle(&self, take_log: impl FnOnce() -> Vec<ReplayEntry>) -> ReplaySummary {
        let _settling = lock(&self.replay_lock);
        let entries = take_log();
        let mut summary = ReplaySummary::default();
        if entries.is_empty() {
            return summary;
        }
        let logged = entries.len();
        for entry in entries {
            let kernel = entry.kernel().to_string();
            match entry.replay() {
                Ok(Replayed::Ran) => {
                    summary.replayed += 1;
                    self.replayed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Replayed::Superseded) => summary.superseded += 1,
                Err(why) => summary.lost.push(format!("`{kernel}`: {why}")),
            }
        }
        if summary.lost.is_empty() {
            log::warn!(
                "switchyard: the GPU was lost with {logged} unfinished launch(es); {} were re-run \
                 on the CPU from the host copies",
                summary.replayed
            );
        } else {
            log::warn!(
                "switchyard: the GPU was lost with {logged} unfinished launch(es); {} were re-run \
                 on the CPU, {} could not be: {}",
                summary.replayed,
                summary.lost.len(),
                summary.lost.join("; ")
            );
        }
        summary
    }

    /// Lost GPU launches re-run on the CPU so far.
    pub fn replayed_launches(&self) -> u64 {
        self.replayed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Logged {
        name: String,
        ran: Arc<Mutex<Vec<String>>>,
        outcome: Result<Replayed, String>,
    }

    impl Replay for Logged {
        fn kernel(&self) -> &str {
            &self.name
        }
        fn replay(self: Box<Self>) -> Result<Replayed, String> {
            lock(&self.ran).push(self.name.clone());
            self.outcome
        }
    }

    fn entry(
        name: &str,
        ran: &Arc<Mutex<Vec<String>>>,
        outcome: Result<Replayed, &str>,
    ) -> ReplayEntry {
        Box::new(Logged {
            name: name.to_string(),
            ran: Arc::clone(ran),
            outcome: outcome.map_err(str::to_string),
        })
    }

    #[test]
    fn finished_submissions_leave_the_log_and_the_rest_replays_in_order() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut log = ReplayLog::default();
        log.log_recorded(entry("a", &ran, Ok(Replayed::Ran)));
        log.submitted(1);
        log.log_recorded(entry("b", &ran, Ok(Replayed::Ran)));
        log.submitted(2);
        log.log_submitted(2, entry("c", &ran, Ok(Replayed::Superseded)));
        log.log_recorded(entry("d", &ran, Err("no twin")));
        assert!(log.take_finished(0).is_empty());
        assert_eq!(log.take_finished(1).len(), 1);
        assert!(!log.is_empty());

        let recovery = Recovery::default();
        let summary = recovery.settle(|| log.take_all());
        assert!(log.is_empty());
        assert_eq!(*lock(&ran), ["b", "c", "d"]);
        assert_eq!((summary.replayed, summary.superseded), (1, 1));
        assert_eq!(summary.lost, ["`d`: no twin"]);
        assert_eq!(recovery.replayed_launches(), 1);
        let message = summary.error().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("`d`: no twin"), "{message}");
    }

    #[test]
    fn an_empty_log_settles_to_nothing() {
        let recovery = Recovery::default();
        let summary = recovery.settle(Vec::new);
        assert!(summary.error().is_none());
        assert_eq!(summary.replayed + summary.superseded, 0);
    }
}
