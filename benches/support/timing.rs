//! Side-by-side timing on a shared, noisy machine: every contender runs in
//! blocks of consecutive calls, the block order rotates each round, and each
//! contender's median call time is compared. Blocks (not call-by-call
//! alternation) give each contender the steady state a program calling only
//! it would see; rotation makes drift hit all of them alike.
//!
//! The first call of each block is made but not counted: it pays for the
//! switch from the block before (a GPU block leaves the CPU pool's threads
//! asleep and the software adapter's threads busy). And the order changes
//! from round to round so that each contender follows each other one
//! equally often: what a GPU block leaves behind can outlast one call.
//! With a fixed cycle of Cpu, Gpu, Auto, Auto followed the GPU block in two
//! blocks of three and Cpu in one, and Auto read up to 1.2× Cpu at sizes
//! where both ran the same code. Running every other round backwards still
//! left Auto after the GPU 10 times in 15 rounds and Cpu 4 (the reversed
//! round starts with the contender that ended the one before), and
//! jacobi2d 2^23, where a GPU launch takes 50 ms, read 1.15–1.20 with Auto
//! running the CPU's code. Three contenders now cycle through all six
//! orders in a sequence where every ordered pair occurs three times in six
//! rounds ([`THREE_WAY_ORDERS`]; 7 or 8 times each in 15).
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

/// Six rounds of three contenders in which each contender's block follows
/// each other contender's exactly three times, the rounds' seams included
/// (and the cycle's, when it repeats); found by searching all 720 orders.
const THREE_WAY_ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [2, 1, 0],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
];

/// Which contender runs the `k`th block of `round`.
fn block_order(count: usize, round: usize, k: usize) -> usize {
    if count == 3 {
        return THREE_WAY_ORDERS[round % THREE_WAY_ORDERS.len()][k];
    }
    // Two contenders (0 1 0 1 ...) each follow the other alike. Others:
    // rotate, every other round reversed.
    let step = if round.is_multiple_of(2) {
        k
    } else {
        count - 1 - k
    };
    (step + round) % count
}

/// A contender: one call, returning the seconds it measured for itself.
pub type Contender<'a> = Box<dyn FnMut() -> switchyard::Result<f64> + 'a>;

impl Blocks {
    /// Runs every contender in rotating blocks; returns each one's per-call
    /// seconds, per contender and round.
    pub fn run(&self, contenders: &mut [Contender<'_>]) -> switchyard::Result<Vec<Vec<Vec<f64>>>> {
        let count = contenders.len();
        let mut times = vec![Vec::with_capacity(self.rounds); count];
        for round in 0..self.rounds {
            for k in 0..count {
                let i = block_order(count, round, k);
                contenders[i]()?;
                let mut block = Vec::new();
                let started = Instant::now();
                for call in 0..self.max_calls.max(1) {
                    block.push(contenders[i]()?);
                    if call + 1 >= self.min_calls
                        && started.elapsed().as_secs_f64() >= self.block_seconds
                    {
                        break;
                    }
                }
                times[i].push(block);
            }
        }
        Ok(times)
    }

    /// Per contender, the median of all its calls, and of its block in each
    /// round.
    pub fn compare(&self, contenders: &mut [Contender<'_>]) -> switchyard::Result<Comparison> {
        let mut times = self.run(contenders)?;
        let per_round = times
            .iter_mut()
            .map(|rounds| rounds.iter_mut().map(|block| median(block)).collect())
            .collect();
        let medians = times
            .into_iter()
            .map(|rounds| median(&mut rounds.concat()))
            .collect();
        Ok(Comparison { medians, per_round })
    }

    /// Per contender, the median of all its calls.
    pub fn medians(&self, contenders: &mut [Contender<'_>]) -> switchyard::Result<Vec<f64>> {
        Ok(self.compare(contenders)?.medians)
    }
}

/// What [`Blocks::compare`] measured.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Per contender, the median of all its calls.
    pub medians: Vec<f64>,
    /// Per contender, the median call of its block in each round.
    pub per_round: Vec<Vec<f64>>,
}

impl Comparison {
    /// Contender `ours` against the best of `baselines`, paired by round: the
    /// median over rounds of `ours`'s block median divided by the smallest
    /// block median of `baselines` in the same round. Blocks of one round
    /// run within milliseconds of each other, so a slow spell of the machine
    /// that lasts longer than that (they last tens of milliseconds on this
    /// VM, and move a contender's median by up to 3×) divides out.
    pub fn ratio(&self, ours: usize, baselines: &[usize]) -> f64 {
        median(&mut self.round_ratios(ours, baselines))
    }

    /// The per-round ratios [`ratio`](Self::ratio) takes the median of, for
    /// pooling the rounds of several measurements of one thing.
    pub fn round_ratios(&self, ours: usize, baselines: &[usize]) -> Vec<f64> {
        (0..self.per_round[ours].len())
            .map(|round| {
                let best = baselines
                    .iter()
                    .map(|&b| self.per_round[b][round])
                    .fold(f64::INFINITY, f64::min);
                self.per_round[ours][round] / best
            })
            .collect()
    }
}

/// CPU time the calling thread has used, in seconds: what recording costs
/// the caller, which the software adapter's threads (running earlier work on
/// the same cores) do not blur the way they blur wall time. Falls back to
/// wall time where the clock is unavailable.
pub fn thread_cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec for the duration of
        // the call, which writes only it.
        let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
        if status == 0 {
            return now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9;
        }
    }
    wall_epoch().elapsed().as_secs_f64()
}

fn wall_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
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
