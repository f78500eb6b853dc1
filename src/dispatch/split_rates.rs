//! What a kernel's split launches measured: each side's seconds per element
//! while both sides ran at once, for the next split's point and for
//! `Auto`'s prediction of a split.
//!
//! The single-target models (`cost_model`) measure each target alone. The
//! two sides of a split share the machine (memory bandwidth; on a software
//! adapter, the cores too), and a buffer that cannot stay split ends each
//! side with a transfer. So once a kernel has been split, its split point
//! comes from these rates, which include both effects; the models only
//! place the first split. `Auto` stops splitting when the rates say a
//! split no longer pays; since the rates then go stale, it re-measures a
//! split now and then while one is still predicted faster than either
//! target (`declined`).
//!
//! Invariant: pure arithmetic over durations the launch path measured; no
//! clock, no I/O, tested with fixed numbers.

/// How far the rates move towards each new split's: a single split on a
/// busy machine can be off by a third, so no one measurement decides.
const NEWEST_WEIGHT: f64 = 0.4;

/// What one split measured: each side's elements, and the seconds from its
/// start to the end of its transfer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SplitSides {
    pub cpu_elements: u64,
    pub cpu_seconds: f64,
    pub gpu_elements: u64,
    pub gpu_seconds: f64,
}

/// Each side's seconds per element in a split, smoothed over splits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SplitRates {
    pub cpu_seconds_per_element: f64,
    pub gpu_seconds_per_element: f64,
    /// Splits measured so far.
    pub splits: u32,
    /// `Auto` launches since the last split that were not split.
    pub declined: u32,
}

impl SplitRates {
    /// The rates after `sides` was measured. A side that ran no elements
    /// (or took no time) teaches nothing: its previous rate stays, and with
    /// none, there are no rates yet.
    pub fn after(previous: Option<SplitRates>, sides: SplitSides) -> Option<SplitRates> {
        let rate = |elements: u64, seconds: f64| {
            (elements > 0 && seconds > 0.0 && seconds.is_finite())
                .then(|| seconds / elements as f64)
        };
        let blend = |old: Option<f64>, new: Option<f64>| match (old, new) {
            (Some(old), Some(new)) => Some(old + NEWEST_WEIGHT * (new - old)),
            (old, new) => new.or(old),
        };
        let cpu = blend(
            previous.map(|rates| rates.cpu_seconds_per_element),
            rate(sides.cpu_elements, sides.cpu_seconds),
        )?;
        let gpu = blend(
            previous.map(|rates| rates.gpu_seconds_per_element),
            rate(sides.gpu_elements, sides.gpu_seconds),
        )?;
        Some(SplitRates {
            cpu_seconds_per_element: cpu,
            gpu_seconds_per_element: gpu,
            splits: previous.map_or(0, |rates| rates.splits) + 1,
            declined: 0,
        })
    }

    /// The CPU's elements of an `n`-element split at which both sides are
    /// predicted to end together, and the predicted seconds until they do.
    pub fn balance(&self, n: u64) -> (u64, f64) {
        self.balance_with(n, 0.0)
    }

    /// As [`balance`](Self::balance), the GPU side first spending
    /// `gpu_fixed` seconds whatever its share (the uploads its part needs).
    pub fn balance_with(&self, n: u64, gpu_fixed: f64) -> (u64, f64) {
        let (cpu, gpu) = (self.cpu_seconds_per_element, self.gpu_seconds_per_element);
        // cpu·k = gpu_fixed + gpu·(n - k)
        let k = (gpu_fixed + gpu * n as f64) / (cpu + gpu);
        let k = if k.is_finite() {
            k.clamp(0.0, n as f64)
        } else {
            n as f64 / 2.0
        };
        let k = k.round() as u64;
        let seconds = (cpu * k as f64).max(gpu_fixed + gpu * (n - k) as f64);
        (k, seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_gpu_cost_moves_elements_to_the_cpu() {
        let rates = SplitRates {
            cpu_seconds_per_element: 1e-9,
            gpu_seconds_per_element: 1e-9,
            splits: 1,
            declined: 0,
        };
        assert_eq!(rates.balance(1000).0, 500);
        let (k, seconds) = rates.balance_with(1000, 200e-9);
        assert_eq!(k, 600);
        assert!((seconds - 600e-9).abs() < 1e-15);
        // More fixed cost than the whole launch: all on the CPU.
        assert_eq!(rates.balance_with(1000, 1e-3).0, 1000);
    }

    fn sides(
        cpu_elements: u64,
        cpu_seconds: f64,
        gpu_elements: u64,
        gpu_seconds: f64,
    ) -> SplitSides {
        SplitSides {
            cpu_elements,
            cpu_seconds,
            gpu_elements,
            gpu_seconds,
        }
    }

    #[test]
    fn the_first_split_sets_the_rates_and_balances_both_sides() {
        // CPU: 1 µs per element; GPU: 3 µs per element.
        let rates = SplitRates::after(None, sides(1000, 1e-3, 1000, 3e-3)).unwrap();
        let (k, seconds) = rates.balance(4000);
        assert_eq!(k, 3000);
        assert!((seconds - 3e-3).abs() < 1e-12);
        assert_eq!(rates.splits, 1);
    }

    #[test]
    fn later_splits_move_the_rates_part_way() {
        let first = SplitRates::after(None, sides(1000, 1e-3, 1000, 1e-3)).unwrap();
        let second = SplitRates::after(Some(first), sides(1000, 2e-3, 1000, 1e-3)).unwrap();
        let expected = 1e-6 + NEWEST_WEIGHT * 1e-6;
        assert!((second.cpu_seconds_per_element - expected).abs() < 1e-15);
        assert!((second.gpu_seconds_per_element - 1e-6).abs() < 1e-15);
        // The slower CPU gets fewer elements than half.
        assert!(second.balance(1000).0 < 500);
    }

    #[test]
    fn a_side_with_no_elements_keeps_its_rate_or_gives_no_rates() {
        assert_eq!(SplitRates::after(None, sides(1000, 1e-3, 0, 0.0)), None);
        let first = SplitRates::after(None, sides(1000, 1e-3, 1000, 2e-3)).unwrap();
        let next = SplitRates::after(Some(first), sides(1000, 3e-3, 0, 0.0)).unwrap();
        assert_eq!(next.gpu_seconds_per_element, first.gpu_seconds_per_element);
        assert!(next.cpu_seconds_per_element > first.cpu_seconds_per_element);
    }

    #[test]
    fn a_new_split_resets_the_count_of_launches_not_split() {
        let first = SplitRates::after(None, sides(100, 1e-6, 100, 2e-6)).unwrap();
        let declined = SplitRates {
            declined: 9,
            ..first
        };
        let next = SplitRates::after(Some(declined), sides(100, 1e-6, 100, 2e-6)).unwrap();
        assert_eq!((next.splits, next.declined), (2, 0));
    }

    #[test]
    fn balance_stays_within_the_launch() {
        let rates = SplitRates {
            cpu_seconds_per_element: 0.0,
            gpu_seconds_per_element: 0.0,
            splits: 1,
            declined: 0,
        };
        assert_eq!(rates.balance(10).0, 5);
        let rates = SplitRates {
            cpu_seconds_per_element: 1e-9,
            gpu_seconds_per_element: f64::INFINITY,
            splits: 1,
            declined: 3,
        };
        assert!(rates.balance(10).0 <= 10);
        assert_eq!(rates.balance(0).0, 0);
    }
}
