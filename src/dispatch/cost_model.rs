//! A learned time-against-size curve: what one kernel costs on one target, or
//! what one transfer direction costs, as a function of its size.
//!
//! Samples are kept per size bucket (two buckets per octave), the most recent
//! [`SAMPLES_PER_BUCKET`] each; a bucket's estimate is the median of its
//! samples, so one slow launch (a page fault, a preempted thread) moves
//! nothing. Between measured buckets the curve is interpolated; outside them it
//! follows the weighted least-squares line `time = latency + per_item × size`
//! through the bucket medians, which is also what reports print.
//!
//! Invariants: predictions are finite, non-negative and non-decreasing in size
//! within the measured range; the model holds no clock and does no I/O, so it
//! is tested with fixed timings. Every launch asks for predictions, so bucket
//! medians, the points and the fit are computed when a sample arrives, not
//! when a prediction is asked for.
//!
//! A bucket that holds all its samples learns at most one more per
//! [`LEARN_EVERY_SECONDS`] of the launch time it is shown: updating the
//! medians and the fit cost about 0.1 µs, more than a 1024-element saxpy
//! on the CPU, and a million such launches a second say nothing that a few
//! tens of thousands do not. Launches longer than that are all learned, so
//! the model follows a changing machine just as fast in seconds.

use std::collections::{BTreeMap, VecDeque};

/// Samples remembered per bucket; older ones are forgotten, so the model
/// follows a machine whose speed drifts.
pub(crate) const SAMPLES_PER_BUCKET: usize = 8;
/// A sample this many times away from its bucket's median is an outlier...
const OUTLIER_FACTOR: f64 = 4.0;
/// ...unless this many in a row agree, which means the machine changed.
const OUTLIERS_BEFORE_RELEARNING: u32 = 3;

/// The bucket of a size: `floor(2 · log2(size))`, in integers (every launch
/// asks for a few, and a float logarithm was a visible share of a
/// microsecond launch).
pub(crate) fn bucket_of(size: u64) -> u16 {
    let n = size.max(1);
    let octave = n.ilog2();
    // The upper half of the octave starts at 2^octave · √2, which is where
    // n² reaches 2^(2 · octave + 1).
    let upper_half = u128::from(n) * u128::from(n) >= 1u128 << (2 * octave + 1);
    (2 * octave + u32::from(upper_half)) as u16
}

/// `time = latency + per_item × size`, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LinearFit {
    pub latency: f64,
    pub per_item: f64,
}

impl LinearFit {
    pub fn at(&self, size: u64) -> f64 {
        self.latency + self.per_item * size as f64
    }
}

/// A full bucket learns one sample per this much observed launch time.
pub(crate) const LEARN_EVERY_SECONDS: f64 = 20e-6;

/// What became of one observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Learned {
    /// Added to its bucket.
    Yes,
    /// Set aside as an outlier (counted, not learned).
    Outlier,
    /// Passed over: its bucket is full and has learned a sample within the
    /// last [`LEARN_EVERY_SECONDS`] of launch time.
    Thinned,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// `(size, seconds)`, oldest first.
    samples: VecDeque<(u64, f64)>,
    consecutive_outliers: u32,
    /// Launch time shown to the bucket since it last learned a sample.
    unlearned_seconds: f64,
    /// `(median size, estimate seconds)` of `samples`, kept current.
    point: (f64, f64),
}

/// Below this many samples a bucket's estimate is its fastest sample: on a
/// shared machine noise only ever adds time, and one unlucky first
/// measurement must not decide the next launches.
pub(crate) const SETTLED_SAMPLES: usize = 3;

impl Bucket {
    fn median_seconds(&self) -> f64 {
        self.point.1
    }

    fn median_size(&self) -> f64 {
        self.point.0
    }

    fn push(&mut self, size: u64, seconds: f64) {
        if self.samples.len() == SAMPLES_PER_BUCKET {
            self.samples.pop_front();
        }
        self.samples.push_back((size, seconds));
        let seconds = self.samples.iter().map(|&(_, s)| s);
        let estimate = if self.samples.len() < SETTLED_SAMPLES {
            seconds.fold(f64::INFINITY, f64::min)
        } else {
            median(seconds)
        };
        self.point = (
            median(self.samples.iter().map(|&(n, _)| n as f64)),
            estimate,
        );
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut buffer = [0.0; SAMPLES_PER_BUCKET];
    let mut len = 0;
    for value in values.take(SAMPLES_PER_BUCKET) {
        buffer[len] = value;
        len += 1;
    }
    let values = &mut buffer[..len];
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The weighted least-squares line through `points` (see [`SizeHistory::fit`]).
fn fit_through(points: &[(f64, f64)]) -> Option<LinearFit> {
    if points.len() < 2 {
        return None;
    }
    let (mut sw, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y) in points {
        let w = 1.0 / (y * y).max(1e-18);
        sw += w;
        sx += w * x;
        sy += w * y;
        sxx += w * x * x;
        sxy += w * x * y;
    }
    let det = sw * sxx - sx * sx;
    let (mut latency, mut per_item) = if det.abs() > f64::EPSILON * sw * sxx {
        ((sy * sxx - sx * sxy) / det, (sw * sxy - sx * sy) / det)
    } else {
        (sy / sw, 0.0)
    };
    if per_item < 0.0 {
        per_item = 0.0;
        latency = sy / sw;
    }
    if latency < 0.0 {
        latency = 0.0;
        per_item = sxy / sxx;
    }
    Some(LinearFit { latency, per_item })
}

/// Measured seconds against size, bucketed; see the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct SizeHistory {
    buckets: BTreeMap<u16, Bucket>,
    outliers: u64,
    /// Every non-empty bucket's point, smallest size first, and the line
    /// through them; rebuilt whenever a sample is added.
    points: Vec<(f64, f64)>,
    fit: Option<LinearFit>,
    /// Bumped whenever what the history predicts may have changed, so a
    /// choice made from it can be kept until then (see `policy::choose`).
    version: u64,
}

impl SizeHistory {
    /// Changes whenever a prediction from this history may change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Learns one measurement, unless it is an outlier.
    pub fn observe(&mut self, size: u64, seconds: f64) -> Learned {
        if !seconds.is_finite() || seconds < 0.0 {
            self.outliers += 1;
            return Learned::Outlier;
        }
        let bucket = self.buckets.entry(bucket_of(size)).or_default();
        if bucket.samples.len() == SAMPLES_PER_BUCKET {
            bucket.unlearned_seconds += seconds;
            if bucket.unlearned_seconds < LEARN_EVERY_SECONDS {
                return Learned::Thinned;
            }
        }
        bucket.unlearned_seconds = 0.0;
        if bucket.samples.len() >= SETTLED_SAMPLES {
            let typical = bucket.median_seconds().max(1e-9);
            let off = seconds / typical;
            if !(1.0 / OUTLIER_FACTOR..=OUTLIER_FACTOR).contains(&off) {
                bucket.consecutive_outliers += 1;
                if bucket.consecutive_outliers < OUTLIERS_BEFORE_RELEARNING {
                    self.outliers += 1;
                    return Learned::Outlier;
                }
                // Several in a row: the machine changed; start this bucket over.
                bucket.samples.clear();
            }
        }
        bucket.consecutive_outliers = 0;
        bucket.push(size, seconds);
        self.refresh();
        Learned::Yes
    }

    fn refresh(&mut self) {
        self.version += 1;
        self.points.clear();
        self.points.extend(
            self.buckets
                .values()
                .filter(|b| !b.samples.is_empty())
                .map(|b| b.point),
        );
        self.fit = fit_through(&self.points);
    }

    /// Whether anything has been learned.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Samples learned and still remembered.
    #[cfg(test)]
    pub fn sample_count(&self) -> usize {
        self.buckets.values().map(|b| b.samples.len()).sum()
    }

    /// Observations set aside as outliers.
    pub fn outliers(&self) -> u64 {
        self.outliers
    }

    /// Samples in `size`'s own bucket.
    pub fn samples_at(&self, size: u64) -> usize {
        self.buckets
            .get(&bucket_of(size))
            .map_or(0, |b| b.samples.len())
    }

    /// Whether a bucket within `distance` buckets of `size`'s holds samples.
    pub fn measured_near(&self, size: u64, distance: u16) -> bool {
        let center = bucket_of(size);
        self.buckets
            .range(center.saturating_sub(distance)..=center.saturating_add(distance))
            .any(|(_, b)| !b.samples.is_empty())
    }

    /// The estimate of the largest measured bucket below `size`'s own: a
    /// lower bound on the time at `size`, independent of `size`'s own bucket,
    /// since a larger launch does not run faster.
    pub fn floor_below(&self, size: u64) -> Option<f64> {
        self.buckets
            .range(..bucket_of(size))
            .rev()
            .find(|(_, b)| !b.samples.is_empty())
            .map(|(_, b)| b.median_seconds())
    }

    /// `(median size, median seconds)` per bucket, smallest first.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// The least-squares line through the bucket medians, weighted by
    /// `1 / time²` so that small and large sizes count alike (relative
    /// error), with latency and per-item cost kept non-negative. `None` with
    /// fewer than two buckets.
    pub fn fit(&self) -> Option<LinearFit> {
        self.fit
    }

    /// Predicted seconds at `size`; `None` before any sample.
    ///
    /// Inside a measured bucket: its median, scaled along the fitted line to
    /// the exact size. Between measured buckets: linear interpolation of their
    /// medians. Beyond the largest: the fitted line, never below the largest
    /// bucket's median (time does not fall with size); with one bucket only,
    /// proportional to size. Below the smallest: the smallest bucket's median
    /// (a launch costs at least its latency, which dominates there).
    pub fn predict(&self, size: u64) -> Option<f64> {
        let points = self.points.as_slice();
        let (&(first_n, first_t), &(last_n, last_t)) = (points.first()?, points.last()?);
        let fit = self.fit;
        let n = size as f64;
        if let Some(bucket) = self.buckets.get(&bucket_of(size)) {
            if !bucket.samples.is_empty() {
                let (bn, bt) = (bucket.median_size(), bucket.median_seconds());
                let scale = match fit {
                    Some(fit) if fit.at(bn as u64) > 0.0 => fit.at(size) / fit.at(bn as u64),
                    _ => 1.0,
                };
                return Some(bt * scale);
            }
        }
        if n <= first_n {
            return Some(first_t);
        }
        if n >= last_n {
            return Some(match fit {
                Some(fit) => fit.at(size).max(last_t),
                None => last_t * n / last_n,
            });
        }
        let upper = points.iter().position(|&(pn, _)| pn >= n)?;
        let (n0, t0) = points[upper - 1];
        let (n1, t1) = points[upper];
        Some(t0 + (t1 - t0) * (n - n0) / (n1 - n0).max(1e-9))
    }

    /// Every remembered sample, `(size, seconds)`, for persistence.
    pub fn samples(&self) -> impl Iterator<Item = (u64, f64)> + '_ {
        self.buckets
            .values()
            .flat_map(|b| b.samples.iter().copied())
    }

    /// Adds a sample read back from disk, without outlier screening (it was
    /// screened when first learned).
    pub fn restore(&mut self, size: u64, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.buckets
                .entry(bucket_of(size))
                .or_default()
                .push(size, seconds);
            self.refresh();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-12)
    }

    fn linear(latency: f64, per_item: f64, sizes: &[u64]) -> SizeHistory {
        let mut history = SizeHistory::default();
        for &n in sizes {
            for _ in 0..3 {
                history.observe(n, latency + per_item * n as f64);
            }
        }
        history
    }

    #[test]
    fn buckets_are_half_octaves() {
        // Against the float formula where f64 holds the size exactly (√2 ·
        // 2^k is irrational, so no integer sits on a boundary).
        for size in (0..5000u64).chain([1 << 40, (1 << 40) + 1, (1 << 52) + 12345]) {
            let expected = ((size.max(1) as f64).log2() * 2.0).floor() as u16;
            assert_eq!(bucket_of(size), expected, "size {size}");
        }
        // Above 2^53 the float formula rounds; the integer one does not.
        assert_eq!(bucket_of(u64::MAX), 127);
        assert_eq!(bucket_of(1023), 19);
        assert_eq!(bucket_of(1024), 20);
        assert_eq!(bucket_of(1448), 20); // 1024 · √2 = 1448.2
        assert_eq!(bucket_of(1449), 21);
    }

    #[test]
    fn fit_recovers_latency_and_per_item_cost() {
        let history = linear(50e-6, 2e-9, &[1 << 10, 1 << 14, 1 << 18, 1 << 22]);
        let fit = history.fit().unwrap();
        assert!(close(fit.latency, 50e-6, 1e-6), "{fit:?}");
        assert!(close(fit.per_item, 2e-9, 1e-6), "{fit:?}");
    }

    #[test]
    fn unseen_sizes_are_interpolated_and_extrapolated() {
        let history = linear(50e-6, 2e-9, &[1 << 10, 1 << 20]);
        let truth = |n: u64| 50e-6 + 2e-9 * n as f64;
        for n in [1u64 << 12, 1 << 16, 3 << 18, 1 << 24, 1 << 26] {
            let predicted = history.predict(n).unwrap();
            assert!(
                close(predicted, truth(n), 1e-6),
                "n={n}: {predicted} vs {}",
                truth(n)
            );
        }
        // Below the smallest bucket: its time, the latency floor.
        assert!(close(history.predict(4).unwrap(), truth(1 << 10), 1e-9));
    }

    #[test]
    fn one_bucket_extrapolates_in_proportion_and_never_below() {
        let mut history = SizeHistory::default();
        history.observe(1000, 1e-3);
        assert_eq!(history.fit(), None);
        assert!(close(history.predict(4000).unwrap(), 4e-3, 1e-9));
        assert!(close(history.predict(10).unwrap(), 1e-3, 1e-9));
    }

    #[test]
    fn a_slow_outlier_is_not_learned_but_a_lasting_change_is() {
        let mut history = SizeHistory::default();
        for _ in 0..5 {
            assert_eq!(history.observe(1 << 16, 1e-3), Learned::Yes);
        }
        assert_eq!(history.observe(1 << 16, 50e-3), Learned::Outlier);
        assert!(close(history.predict(1 << 16).unwrap(), 1e-3, 1e-9));
        assert_eq!(history.outliers(), 1);
        // The machine really got slower: after a few agreeing samples the
        // bucket starts over at the new speed.
        history.observe(1 << 16, 20e-3);
        history.observe(1 << 16, 20e-3);
        assert!(close(history.predict(1 << 16).unwrap(), 20e-3, 1e-9));
    }

    #[test]
    fn a_full_bucket_of_tiny_launches_learns_one_per_learning_interval() {
        let mut history = SizeHistory::default();
        for _ in 0..SAMPLES_PER_BUCKET {
            assert_eq!(history.observe(1024, 1e-6), Learned::Yes);
        }
        let per_interval = (LEARN_EVERY_SECONDS / 1e-6).round() as usize;
        // (Plus a few, for the rounding of the accumulated time.)
        let outcomes: Vec<Learned> = (0..3 * per_interval + 3)
            .map(|_| history.observe(1024, 1e-6))
            .collect();
        let learned = outcomes.iter().filter(|&&o| o == Learned::Yes).count();
        assert_eq!(learned, 3, "{outcomes:?}");
        // Launches as long as the interval are each learned.
        let mut long = SizeHistory::default();
        for _ in 0..3 * SAMPLES_PER_BUCKET {
            assert_eq!(long.observe(1 << 20, LEARN_EVERY_SECONDS), Learned::Yes);
        }
    }

    #[test]
    fn a_thinned_bucket_still_follows_a_lasting_change() {
        let mut history = SizeHistory::default();
        for _ in 0..SAMPLES_PER_BUCKET {
            history.observe(1024, 1e-6);
        }
        // Ten times slower from now on: outliers at first, then relearned,
        // within a few learning intervals of launch time.
        let mut shown = 0.0;
        while !close(history.predict(1024).unwrap(), 10e-6, 1e-12) {
            history.observe(1024, 10e-6);
            shown += 10e-6;
            assert!(
                shown < 10.0 * LEARN_EVERY_SECONDS,
                "not relearned after {shown} s"
            );
        }
    }

    #[test]
    fn the_median_ignores_a_single_noisy_sample_in_range() {
        let mut history = SizeHistory::default();
        for t in [1.0e-3, 1.1e-3, 0.9e-3, 3.0e-3, 1.0e-3] {
            history.observe(5000, t);
        }
        assert!(close(history.predict(5000).unwrap(), 1.0e-3, 1e-9));
    }

    #[test]
    fn buckets_forget_old_samples() {
        let mut history = SizeHistory::default();
        for _ in 0..SAMPLES_PER_BUCKET {
            history.observe(100, 1e-3);
        }
        for _ in 0..SAMPLES_PER_BUCKET {
            history.observe(100, 2e-3);
        }
        assert_eq!(history.sample_count(), SAMPLES_PER_BUCKET);
        assert!(close(history.predict(100).unwrap(), 2e-3, 1e-9));
    }

    #[test]
    fn negative_slopes_are_clamped() {
        // Noise can make a larger size look faster; the fit must not predict
        // that larger work is free.
        let mut history = SizeHistory::default();
        history.observe(1 << 10, 2e-3);
        history.observe(1 << 20, 1e-3);
        let fit = history.fit().unwrap();
        assert!(fit.per_item >= 0.0 && fit.latency >= 0.0, "{fit:?}");
        assert!(history.predict(1 << 24).unwrap() >= 1e-3);
    }

    #[test]
    fn the_floor_comes_from_the_nearest_smaller_bucket() {
        let history = linear(10e-6, 1e-9, &[1 << 10, 1 << 14]);
        assert_eq!(history.floor_below(1 << 10), None);
        assert!(close(
            history.floor_below(1 << 12).unwrap(),
            10e-6 + 1e-9 * 1024.0,
            1e-9
        ));
        assert!(close(
            history.floor_below(1 << 20).unwrap(),
            10e-6 + 1e-9 * 16384.0,
            1e-9
        ));
        // Its own bucket does not count.
        assert!(close(
            history.floor_below(1 << 14).unwrap(),
            10e-6 + 1e-9 * 1024.0,
            1e-9
        ));
    }

    #[test]
    fn restore_round_trips_samples() {
        let history = linear(10e-6, 1e-9, &[1 << 8, 1 << 16]);
        let mut copy = SizeHistory::default();
        for (n, t) in history.samples() {
            copy.restore(n, t);
        }
        assert_eq!(copy.predict(1 << 12), history.predict(1 << 12));
        assert_eq!(copy.sample_count(), history.sample_count());
    }
}
