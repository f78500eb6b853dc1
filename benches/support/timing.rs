//! Side-by-side timing on a shared, noisy machine: every contender runs in
//! blocks of consecutive calls, the block order rotates each round, and each
//! contender's median call time is compared. Blocks (not call-by-call
//! alternation) give each contender the steady state a program calling only
//! it would see; rotation makes drift hit all of them alike.
//!
//! Shared by the report examples (included with `#[path]`).
#![allow(dead_code)]

use std::time::Instant;

/// How to interleave.
#[derive(Clone, Copy, Debug)]
pub struct Blocks {
    /// Rounds; each contender runs one block per round.
    pub rounds: usize,
    /// A block runs for at least this long...
    pub block_seconds: f64,
    /// ...and at least this many calls...
    pub min_calls: usize,
    /// ...but at most this many.
    pub max_calls: usize,
}

/// A contender: one call, returning the seconds it measured for itself.
pub type Contender<'a> = Box<dyn FnMut() -> switchyard::Result<f64> + 'a>;

impl Blocks {
    /// Runs every contender in rotating blocks; returns each one's per-call
    /// seconds, in the contenders' order.
    pub fn run(&self, contenders: &mut [Contender<'_>]) -> switchyard::Result<Vec<Vec<f64>>> {
        let count = contenders.len();
        let mut times = vec![Vec::new(); count];
        for round in 0..self.rounds {
            for k in 0..count {
                let i = (k + round) % count;
                let started = Instant::now();
                for call in 0..self.max_calls.max(1) {
                    times[i].push(contenders[i]()?);
                    if call + 1 >= self.min_calls
                        && started.elapsed().as_secs_f64() >= self.block_seconds
                    {
                        break;
                    }
                }
            }
        }
        Ok(times)
    }

    /// Per contender, the median of what [`run`](Self::run) measured.
    pub fn medians(&self, contenders: &mut [Contender<'_>]) -> switchyard::Result<Vec<f64>> {
        Ok(self
            .run(contenders)?
            .iter_mut()
            .map(|times| median(times))
            .collect())
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The geometric mean of `values` (1 for none).
pub fn geomean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = values
        .into_iter()
        .fold((0.0, 0usize), |(sum, count), v| (sum + v.ln(), count + 1));
    if count == 0 {
        1.0
    } else {
        (sum / count as f64).exp()
    }
}
