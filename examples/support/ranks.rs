//! What a domain-decomposed simulation asks of its ranks, and ranks that
//! are threads of one process.
//!
//! The decomposed demos (`stencil/slab.rs`, `nbody/ring.rs`) talk to their
//! peers only through [`Ranks`]: exchanging boundary rows with the ranks on
//! either side, passing a block around a ring, and reducing or gathering to
//! rank 0. `mpi_ranks.rs` implements it over MPI (`--features mpi`);
//! [`ThreadRanks`] implements it over channels between threads, so the
//! decomposed code runs, and is tested against the single-process run,
//! without MPI.
//!
//! Every call is collective: all ranks make the same calls in the same
//! order, as with MPI. Messages between a pair of ranks arrive in the order
//! sent; a rank that stops early (an error, a panic) makes its peers fail
//! loudly rather than wait forever.

#![allow(dead_code)] // each includer uses its own part

use std::ops::Range;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// The communication a decomposed simulation needs, one rank's view.
pub trait Ranks {
    /// This rank, `0..size()`.
    fn rank(&self) -> usize;

    /// How many ranks there are.
    fn size(&self) -> usize;

    /// Sends `to_previous` to rank − 1 and `to_next` to rank + 1, and
    /// receives what they sent this way into `from_previous` and
    /// `from_next`, all four transfers in flight at once. At either end of
    /// the line the missing neighbour's slices are ignored (pass empty
    /// ones). Each `from_*` must be as long as the matching `to_*` of the
    /// sender.
    fn exchange_with_neighbours(
        &self,
        to_previous: &[f32],
        to_next: &[f32],
        from_previous: &mut [f32],
        from_next: &mut [f32],
    );

    /// Sends `outgoing` to rank + 1 around the ring (the last rank sends to
    /// rank 0) and receives rank − 1's block into `incoming`, which must be
    /// as long as that block.
    fn ring_shift(&self, outgoing: &[f32], incoming: &mut [f32]);

    /// The sum of every rank's `value` on rank 0; `None` elsewhere.
    fn sum_to_root(&self, value: f64) -> Option<f64>;

    /// The largest of every rank's `value` on rank 0; `None` elsewhere.
    fn max_to_root(&self, value: f64) -> Option<f64>;

    /// Every rank's `local` slice concatenated in rank order, on rank 0;
    /// `None` elsewhere.
    fn gather_to_root(&self, local: &[f32]) -> Option<Vec<f32>>;
}

/// One rank's time and where its launches ran; [`reduce`](Self::reduce)
/// gives rank 0 the slowest rank's times and the launch totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RankTimes {
    /// The rank's run, seconds.
    pub seconds: f64,
    /// Of which exchanging data with other ranks, seconds.
    pub exchange_seconds: f64,
    pub gpu_launches: usize,
    pub cpu_launches: usize,
}

impl RankTimes {
    /// Counts one launch that ran on `target`.
    pub fn count(&mut self, target: switchyard::Target) {
        match target {
            switchyard::Target::Gpu => self.gpu_launches += 1,
            _ => self.cpu_launches += 1,
        }
    }

    /// On rank 0, the largest times and the summed launch counts over all
    /// ranks; `None` elsewhere. Collective.
    pub fn reduce(&self, ranks: &impl Ranks) -> Option<RankTimes> {
        let seconds = ranks.max_to_root(self.seconds);
        let exchange_seconds = ranks.max_to_root(self.exchange_seconds);
        let gpu_launches = ranks.sum_to_root(self.gpu_launches as f64);
        let cpu_launches = ranks.sum_to_root(self.cpu_launches as f64);
        Some(RankTimes {
            seconds: seconds?,
            exchange_seconds: exchange_seconds?,
            gpu_launches: gpu_launches? as usize,
            cpu_launches: cpu_launches? as usize,
        })
    }
}

/// Rows `start..end` of `rows` owned by `rank` of `ranks`: consecutive,
/// `rows / ranks` each, the first `rows % ranks` ranks one more.
pub fn owned_range(rows: usize, rank: usize, ranks: usize) -> Range<usize> {
    let (share, extra) = (rows / ranks, rows % ranks);
    let start = rank * share + rank.min(extra);
    start..start + share + usize::from(rank < extra)
}

/// What a message is for: the tag that keeps unrelated messages between
/// the same two ranks apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    TowardNext,
    TowardPrevious,
    Ring,
    Reduce,
    Gather,
}

struct Message {
    from: usize,
    tag: Tag,
    values: Vec<f32>,
    /// The operand of a reduction.
    scalar: f64,
}

/// One rank of a group of threads, talking over channels.
pub struct ThreadRanks {
    rank: usize,
    outboxes: Vec<Sender<Message>>,
    inbox: Receiver<Message>,
    /// Messages that arrived before the one being waited for.
    early: std::cell::RefCell<Vec<Message>>,
}

/// How long a rank waits for a peer before deciding it has stopped: far
/// beyond any step of the tests, short enough to fail a test run.
const PEER_TIMEOUT: Duration = Duration::from_secs(120);

impl ThreadRanks {
    /// Runs `body` on `ranks` threads, each with its own endpoint, and
    /// returns their results in rank order.
    ///
    /// # Panics
    /// When a rank's `body` panics (the panic is passed on), or a rank
    /// waits for a message longer than two minutes.
    pub fn run<R: Send>(ranks: usize, body: impl Fn(&ThreadRanks) -> R + Sync) -> Vec<R> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..ranks).map(|_| channel()).unzip();
        std::thread::scope(|scope| {
            let handles: Vec<_> = receivers
                .into_iter()
                .enumerate()
                .map(|(rank, inbox)| {
                    let endpoint = ThreadRanks {
                        rank,
                        outboxes: senders.clone(),
                        inbox,
                        early: Default::default(),
                    };
                    let body = &body;
                    scope.spawn(move || body(&endpoint))
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e))
                })
                .collect()
        })
    }

    fn send(&self, to: usize, tag: Tag, values: &[f32], scalar: f64) {
        let message = Message {
            from: self.rank,
            tag,
            values: values.to_vec(),
            scalar,
        };
        self.outboxes[to]
            .send(message)
            .unwrap_or_else(|_| panic!("rank {}: rank {to} has stopped", self.rank));
    }

    fn receive(&self, from: usize, tag: Tag) -> Message {
        let mut early = self.early.borrow_mut();
        if let Some(index) = early.iter().position(|m| m.from == from && m.tag == tag) {
            return early.remove(index);
        }
        loop {
            match self.inbox.recv_timeout(PEER_TIMEOUT) {
                Ok(message) if message.from == from && message.tag == tag => return message,
                Ok(message) => early.push(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => panic!(
                    "rank {}: no {tag:?} message from rank {from}; has it stopped?",
                    self.rank
                ),
            }
        }
    }

    fn receive_into(&self, from: usize, tag: Tag, out: &mut [f32]) {
        let values = self.receive(from, tag).values;
        assert_eq!(
            values.len(),
            out.len(),
            "rank {}: {tag:?} message from rank {from} has the wrong length",
            self.rank
        );
        out.copy_from_slice(&values);
    }

    fn reduce(&self, value: f64, combine: fn(f64, f64) -> f64) -> Option<f64> {
        if self.rank != 0 {
            self.send(0, Tag::Reduce, &[], value);
            return None;
        }
        Some((1..self.size()).fold(value, |total, from| {
            combine(total, self.receive(from, Tag::Reduce).scalar)
        }))
    }
}

impl Ranks for ThreadRanks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.outboxes.len()
    }

    fn exchange_with_neighbours(
        &self,
        to_previous: &[f32],
        to_next: &[f32],
        from_previous: &mut [f32],
        from_next: &mut [f32],
    ) {
        let has_next = self.rank + 1 < self.size();
        if self.rank > 0 {
            self.send(self.rank - 1, Tag::TowardPrevious, to_previous, 0.0);
        }
        if has_next {
            self.send(self.rank + 1, Tag::TowardNext, to_next, 0.0);
        }
        if self.rank > 0 {
            self.receive_into(self.rank - 1, Tag::TowardNext, from_previous);
        }
        if has_next {
            self.receive_into(self.rank + 1, Tag::TowardPrevious, from_next);
        }
    }

    fn ring_shift(&self, outgoing: &[f32], incoming: &mut [f32]) {
        let size = self.size();
        self.send((self.rank + 1) % size, Tag::Ring, outgoing, 0.0);
        self.receive_into((self.rank + size - 1) % size, Tag::Ring, incoming);
    }

    fn sum_to_root(&self, value: f64) -> Option<f64> {
        self.reduce(value, |a, b| a + b)
    }

    fn max_to_root(&self, value: f64) -> Option<f64> {
        self.reduce(value, f64::max)
    }

    fn gather_to_root(&self, local: &[f32]) -> Option<Vec<f32>> {
        if self.rank != 0 {
            self.send(0, Tag::Gather, local, 0.0);
            return None;
        }
        let mut all = local.to_vec();
        for from in 1..self.size() {
            all.extend(self.receive(from, Tag::Gather).values);
        }
        Some(all)
    }
}
