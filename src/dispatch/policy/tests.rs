//! The dispatcher's policy under fixed timings: no GPU, no clock.

use std::sync::Arc;

use super::*;

const SOFTWARE: Machine = Machine {
    gpu_hardware: false,
    cpu_threads: 2,
};
const HARDWARE: Machine = Machine {
    gpu_hardware: true,
    cpu_threads: 2,
};

/// A fake machine: CPU costs 10 µs + 10 ns/item, GPU 200 µs + 0.1 ns/item,
/// so the crossover is at about 19 200 items.
fn cpu_time(n: u64) -> f64 {
    10e-6 + 10e-9 * n as f64
}
fn gpu_time(n: u64) -> f64 {
    200e-6 + 0.1e-9 * n as f64
}

fn input(work: u64) -> ChoiceInput<'static> {
    ChoiceInput {
        key: "k#1",
        work,
        gpu_transfers: &[],
        cpu_transfers: &[],
        argument_names: None,
        gpu_measurable: true,
        repeats_previous: false,
    }
}

/// Runs one Auto launch against the fake machine's timings.
fn launch(d: &mut Dispatcher, work: u64) -> Choice {
    let choice = d.choose(&input(work));
    let t = match choice.target {
        Target::Gpu => gpu_time(work),
        _ => cpu_time(work),
    };
    d.observe(
        "k#1",
        &Outcome {
            predicted: Some(choice.predictions.of(choice.target)),
            explored: choice.exploration(),
            ..Outcome::measured(choice.target, work, t)
        },
    );
    choice
}

#[test]
fn the_crossover_is_learned_on_both_sides() {
    let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
    let sizes = [1u64 << 8, 1 << 12, 1 << 16, 1 << 20, 1 << 22];
    for _ in 0..20 {
        for &n in &sizes {
            launch(&mut d, n);
        }
    }
    // After warm-up every non-exploring choice is the truly faster target.
    for &n in &sizes {
        for _ in 0..5 {
            let choice = launch(&mut d, n);
            if choice.explored {
                continue;
            }
            let faster = if gpu_time(n) < cpu_time(n) {
                Target::Gpu
            } else {
                Target::Cpu
            };
            assert_eq!(choice.target, faster, "n={n}: {}", choice.reason);
        }
    }
    // Unseen sizes on both sides of the crossover are predicted from the fits.
    assert_eq!(d.choose(&input(1 << 24)).target, Target::Gpu);
    assert_eq!(d.choose(&input(1 << 9)).target, Target::Cpu);
}

#[test]
fn exploration_is_bounded_in_launches_and_time() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    let mut explored = 0;
    let launches = 2000;
    for _ in 0..launches {
        explored += usize::from(launch(&mut d, 1 << 22).explored);
    }
    let record = &d.kernels["k#1"];
    // One or two launches to measure the CPU (cold + learned), then at
    // most one re-check per `recheck_every` launches.
    assert!(explored <= 2 + launches / 32, "{explored} explorations");
    assert!(explored >= 2, "the losing target was never measured");
    let extra = record.explore_seconds;
    assert!(
        extra <= 0.05 * record.total_seconds + 2e-3 + (cpu_time(1 << 22) - gpu_time(1 << 22)),
        "exploration cost {extra} s of {} s",
        record.total_seconds
    );
}

#[test]
fn exploration_pays_for_moving_the_data_back_within_its_budget() {
    // CPU 50 µs, GPU 150 µs, 100 µs to move the written buffer either
    // way. Exploring the GPU moves the buffer there, and coming back
    // costs a download: that return trip counts against the budget too.
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    d.observe_transfer(Direction::Upload, 4096, 100e-6);
    d.observe_transfer(Direction::Download, 4096, 100e-6);
    let moving = |direction| {
        [NeededTransfer {
            argument: 1,
            bytes: 4096,
            direction,
        }]
    };
    let (upload, download) = (moving(Direction::Upload), moving(Direction::Download));
    let n = 1000;
    let mut data_on = Target::Cpu;
    let mut total = 0.0;
    let launches = 5000;
    for _ in 0..launches {
        let (gpu_transfers, cpu_transfers): (&[NeededTransfer], &[NeededTransfer]) = match data_on {
            Target::Gpu => (&[], &download),
            _ => (&upload, &[]),
        };
        let choice = d.choose(&ChoiceInput {
            gpu_transfers,
            cpu_transfers,
            repeats_previous: true,
            ..input(n)
        });
        let exec = match choice.target {
            Target::Gpu => 150e-6,
            _ => 50e-6,
        };
        let moved = if choice.target == data_on {
            0.0
        } else {
            100e-6
        };
        data_on = choice.target;
        total += exec + moved;
        d.observe(
            "k#1",
            &Outcome {
                wall_seconds: exec + moved,
                explored: choice.exploration(),
                ..Outcome::measured(choice.target, n, exec)
            },
        );
    }
    let best = 50e-6 * launches as f64;
    // The budget (5% plus 2 ms), plus 1 ms: the budget is checked before
    // an exploration, which then overshoots it by its own cost and its
    // return trip (about 0.4 ms here), and the first GPU launch is cold.
    // Without charging the return trips this spends about 273 ms.
    assert!(
        total <= best * 1.05 + 2e-3 + 1e-3,
        "{:.2} ms spent where always-CPU takes {:.2} ms",
        total * 1e3,
        best * 1e3
    );
    assert!(d.kernels["k#1"].totals.explorations >= 2);
}

#[test]
fn an_unmeasurable_gpu_is_not_explored() {
    let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
    let in_sequence = ChoiceInput {
        gpu_measurable: false,
        ..input(1 << 10)
    };
    for _ in 0..100 {
        assert!(!d.choose(&in_sequence).explored);
    }
    assert!(d.choose(&input(1 << 10)).explored);
}

#[test]
fn a_target_far_slower_by_prior_is_not_explored_at_large_sizes() {
    // Software adapter prior at 2^24 items: ~84 ms vs the CPU's ~8 ms.
    let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
    let choice = d.choose(&input(1 << 24));
    assert_eq!(choice.target, Target::Cpu);
    assert!(!choice.explored);
    assert!(choice.reason.contains("(prior)"), "{}", choice.reason);
}

#[test]
fn hysteresis_keeps_the_choice_near_the_crossover() {
    let mut d = Dispatcher::new(
        PolicyConfig {
            recheck_every: u32::MAX,
            ..PolicyConfig::default()
        },
        HARDWARE,
    );
    let n = 5000;
    measure_both(&mut d, n, 100e-6, 102e-6);
    let first = d.choose(&input(n));
    assert_eq!(first.target, Target::Cpu);
    // The GPU becomes 2% faster: not enough to switch.
    for _ in 0..8 {
        d.observe("k#1", &outcome(Target::Gpu, n, 98e-6));
    }
    let second = d.choose(&input(n));
    assert_eq!(second.target, Target::Cpu, "{}", second.reason);
    assert!(second.reason.contains("kept"), "{}", second.reason);
    // 20% faster: switch.
    for _ in 0..8 {
        d.observe("k#1", &outcome(Target::Gpu, n, 80e-6));
    }
    assert_eq!(d.choose(&input(n)).target, Target::Gpu);
}

fn outcome(target: Target, work: u64, seconds: f64) -> Outcome {
    Outcome::measured(target, work, seconds)
}

/// Four settled measurements of `n` items on each target.
fn measure_both(d: &mut Dispatcher, n: u64, cpu_seconds: f64, gpu_seconds: f64) {
    for _ in 0..4 {
        d.observe("k#1", &outcome(Target::Cpu, n, cpu_seconds));
        d.observe("k#1", &outcome(Target::Gpu, n, gpu_seconds));
    }
}

#[test]
fn residency_shifts_the_choice_and_the_reason_names_the_buffer() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    let n = 1 << 20;
    measure_both(&mut d, n, 1.0e-3, 0.2e-3);
    d.observe_transfer(Direction::Upload, 64 << 20, 6e-3);
    d.observe_transfer(Direction::Upload, 4096, 20e-6);
    // Data already on the device: the GPU wins.
    assert_eq!(d.choose(&input(n)).target, Target::Gpu);
    // 64 MiB of `pos` would have to be uploaded first: the CPU wins.
    let uploads = [NeededTransfer {
        argument: 1,
        bytes: 64 << 20,
        direction: Direction::Upload,
    }];
    let names: Arc<[String]> = Arc::from(["vel".to_string(), "pos".to_string()]);
    let choice = d.choose(&ChoiceInput {
        gpu_transfers: &uploads,
        argument_names: Some(&names),
        ..input(n)
    });
    assert_eq!(choice.target, Target::Cpu, "{}", choice.reason);
    assert!(
        choice.reason.contains("upload of `pos`") && choice.reason.starts_with("cpu: predicted"),
        "{}",
        choice.reason
    );
}

#[test]
fn gpu_launches_that_upload_teach_the_upload_cost_not_the_execution() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    let n = 1 << 16;
    let bytes = 4 << 20;
    // The probe said 4 MiB upload in 0.4 ms; this machine really takes 2 ms.
    d.observe_transfer(Direction::Upload, bytes, 0.4e-3);
    let uploading = |seconds| Outcome {
        bytes_uploaded: bytes,
        ..outcome(Target::Gpu, n, seconds)
    };
    // The first, cold launch uploads: nothing is learned from it.
    d.observe("k#1", &uploading(50e-3));
    // Before the size's execution is known, the predicted upload is taken
    // off and the rest learned as execution: 2.5 ms - 0.4 ms.
    d.observe("k#1", &uploading(2.5e-3));
    let exec = |d: &Dispatcher| d.kernels["k#1"].models[slot(Target::Gpu)].predict(n);
    assert!((exec(&d).unwrap() - 2.1e-3).abs() < 1e-9);
    // Launches on resident data settle the execution at 0.5 ms.
    for _ in 0..4 {
        d.observe("k#1", &outcome(Target::Gpu, n, 0.5e-3));
    }
    assert!((exec(&d).unwrap() - 0.5e-3).abs() < 1e-9);
    // Now every launch that uploads is an upload measurement: 2.5 ms in
    // all is 2 ms of upload, and the execution model does not move.
    for _ in 0..6 {
        d.observe("k#1", &uploading(2.5e-3));
    }
    assert!((exec(&d).unwrap() - 0.5e-3).abs() < 1e-9);
    let upload = d.transfer_seconds(Direction::Upload, bytes);
    assert!((upload - 2e-3).abs() < 1e-9, "learned upload {upload}");
    // A launch with uploads is scored against the whole prediction.
    let uploads = [NeededTransfer {
        argument: 0,
        bytes,
        direction: Direction::Upload,
    }];
    let predicted = d.predict(&ChoiceInput {
        gpu_transfers: &uploads,
        ..input(n)
    });
    assert!((predicted.gpu - 2.5e-3).abs() < 1e-9, "{predicted:?}");
}

#[test]
fn uploads_small_beside_the_execution_are_not_learned_from_its_noise() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    let (n, bytes) = (1 << 20, 4 << 20);
    d.observe_transfer(Direction::Upload, bytes, 0.4e-3);
    for _ in 0..4 {
        d.observe("k#1", &outcome(Target::Gpu, n, 10e-3));
    }
    let samples = |d: &Dispatcher| d.kernels["k#1"].models[slot(Target::Gpu)].samples_at(n);
    let before = samples(&d);
    // 10.1 ms with a 0.4 ms upload: the execution was 9.7 ms, within its
    // noise; learning "0.1 ms" as the upload would be noise too.
    d.observe(
        "k#1",
        &Outcome {
            bytes_uploaded: bytes,
            ..outcome(Target::Gpu, n, 10.1e-3)
        },
    );
    assert!((d.transfer_seconds(Direction::Upload, bytes) - 0.4e-3).abs() < 1e-12);
    assert_eq!(samples(&d), before + 1, "learned as execution");
}

/// A dispatcher that has measured the CPU at 50 µs and the GPU at 100 µs
/// for `n` items, and a 4 KiB download at 120 µs; re-checks are off.
fn cpu_faster_but_data_on_the_gpu(n: u64) -> Dispatcher {
    let mut d = Dispatcher::new(
        PolicyConfig {
            recheck_every: u32::MAX,
            ..PolicyConfig::default()
        },
        HARDWARE,
    );
    measure_both(&mut d, n, 50e-6, 100e-6);
    for _ in 0..4 {
        d.observe_transfer(Direction::Download, 4096, 120e-6);
    }
    d
}

static DOWNLOAD_Y: [NeededTransfer; 1] = [NeededTransfer {
    argument: 1,
    bytes: 4096,
    direction: Direction::Download,
}];

/// A launch repeating the previous one, with its output `y` on the GPU.
fn repeated_with_y_on_the_gpu(n: u64) -> ChoiceInput<'static> {
    ChoiceInput {
        cpu_transfers: &DOWNLOAD_Y,
        repeats_previous: true,
        ..input(n)
    }
}

#[test]
fn a_switch_pays_for_itself_over_repeated_launches() {
    let n = 1000;
    let mut d = cpu_faster_but_data_on_the_gpu(n);
    let data_on_gpu = repeated_with_y_on_the_gpu(n);
    // CPU 50 µs + 120 µs download vs GPU 100 µs: staying loses 50 µs a
    // launch, switching 70 µs once. Stay once, then switch.
    let first = d.choose(&data_on_gpu);
    assert_eq!(first.target, Target::Gpu, "{}", first.reason);
    let second = d.choose(&data_on_gpu);
    assert_eq!(second.target, Target::Cpu, "{}", second.reason);
    assert!(second.reason.contains("switching"), "{}", second.reason);
    // Now the data is on the host and the CPU wins outright.
    let after = d.choose(&ChoiceInput {
        repeats_previous: true,
        ..input(n)
    });
    assert_eq!(after.target, Target::Cpu, "{}", after.reason);
    assert_eq!(d.kernels["k#1"].failed_switches, 0);

    // Launches that do not repeat the previous one (another kernel ran
    // in between and may move the data again) never switch.
    let mut d = cpu_faster_but_data_on_the_gpu(n);
    let interleaved = ChoiceInput {
        repeats_previous: false,
        ..data_on_gpu
    };
    for _ in 0..50 {
        assert_eq!(d.choose(&interleaved).target, Target::Gpu);
    }
}

#[test]
fn a_switch_whose_transfers_come_back_waits_longer_next_time() {
    let n = 1000;
    let mut d = cpu_faster_but_data_on_the_gpu(n);
    let data_on_gpu = repeated_with_y_on_the_gpu(n);
    // Something rewrites the data on the device between launches, so
    // every switch to the CPU needs the download again.
    let mut waits = Vec::new();
    let mut since_switch = 0;
    for _ in 0..40 {
        let choice = d.choose(&data_on_gpu);
        since_switch += 1;
        if choice.target == Target::Cpu {
            waits.push(since_switch);
            since_switch = 0;
        }
    }
    assert!(waits.len() >= 3, "{waits:?}");
    assert!(
        waits.windows(2).all(|w| w[1] >= w[0]) && waits.last() > waits.first(),
        "the wait before each switch should grow: {waits:?}"
    );
}

#[test]
fn a_target_already_slower_at_a_smaller_size_is_not_explored() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    for _ in 0..4 {
        d.observe("k#1", &outcome(Target::Cpu, 1 << 10, 10e-6));
        d.observe("k#1", &outcome(Target::Gpu, 1 << 10, 150e-6));
        d.observe("k#1", &outcome(Target::Cpu, 1 << 12, 30e-6));
    }
    // The GPU is unmeasured at 4096 items and its prediction (prior
    // latency plus scaled per-item) is within the exploration allowance,
    // but 150 µs at 1024 items already exceeds the CPU's 30 µs here.
    let explored = (0..200)
        .filter(|_| launch(&mut d, 1 << 12).explored)
        .count();
    assert_eq!(explored, 0);
    // Without that floor it would have been tried.
    let mut fresh = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    for _ in 0..4 {
        fresh.observe("k#1", &outcome(Target::Cpu, 1 << 12, 30e-6));
    }
    assert!(launch(&mut fresh, 1 << 12).explored);
}

#[test]
fn cold_runs_and_unmeasured_launches_are_not_learned() {
    let mut d = Dispatcher::new(PolicyConfig::default(), HARDWARE);
    assert_eq!(d.observe("k#1", &outcome(Target::Gpu, 100, 50e-3)), None);
    let mut cold = outcome(Target::Gpu, 100, 40e-3);
    cold.cold_pipeline = true;
    assert_eq!(d.observe("k#1", &cold), None);
    let mut recorded_only = outcome(Target::Gpu, 100, 1e-6);
    recorded_only.exec_seconds = None;
    assert_eq!(d.observe("k#1", &recorded_only), None);
    assert!(d.kernels["k#1"].models[1].is_empty());
    assert_eq!(
        d.observe("k#1", &outcome(Target::Gpu, 100, 0.1e-3)),
        Some(Learned::Yes)
    );
    assert_eq!(d.kernels["k#1"].totals.launches[1], 4);
    assert_eq!(d.kernels["k#1"].totals.cold, 2);
}

#[test]
fn a_software_gpu_can_be_learned_to_be_fast() {
    // The prior says lavapipe is slow; measurements say otherwise.
    let mut d = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
    let n = 1 << 20;
    measure_both(&mut d, n, 5e-3, 1e-3);
    assert_eq!(d.choose(&input(n)).target, Target::Gpu);
}

/// A pseudo-random sequence, the same on every run.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

#[test]
fn settled_choices_change_no_decision() {
    // Two dispatchers fed the same launches and timings, one keeping
    // settled choices: every choice, prediction and reason must agree,
    // through learning, transfers appearing and going, repeated launches
    // and explorations.
    let names: Arc<[String]> = Arc::from(["x".to_string(), "y".to_string()]);
    let upload = [NeededTransfer {
        argument: 1,
        bytes: 1 << 20,
        direction: Direction::Upload,
    }];
    let mut kept = Dispatcher::new(PolicyConfig::default(), SOFTWARE);
    let mut recomputed = Dispatcher::new(
        PolicyConfig {
            keep_settled: false,
            ..PolicyConfig::default()
        },
        SOFTWARE,
    );
    // Tiny launches (a learning interval spans many of them, so the models
    // stay unchanged for runs of launches) up to ones that learn each time.
    let sizes = [1u64 << 8, 1 << 10, 1 << 12, 1 << 16, 1 << 22];
    let cpu = |n: u64| 0.3e-6 + 0.5e-9 * n as f64;
    let gpu = |n: u64| 60e-6 + 0.01e-9 * n as f64;
    let mut state = 7;
    for launch in 0..20_000 {
        // Mostly long runs of one size, as a simulation loop makes.
        let n = sizes[(launch / 400 + lcg(&mut state).is_multiple_of(8) as usize) % sizes.len()];
        let with_upload = lcg(&mut state).is_multiple_of(16);
        let input = ChoiceInput {
            key: "k#1",
            work: n,
            gpu_transfers: if with_upload { &upload } else { &[] },
            cpu_transfers: &[],
            argument_names: Some(&names),
            gpu_measurable: !lcg(&mut state).is_multiple_of(32),
            repeats_previous: !lcg(&mut state).is_multiple_of(4),
        };
        let a = kept.choose(&input);
        let b = recomputed.choose(&input);
        assert_eq!(
            (a.target, a.explored, a.predictions),
            (b.target, b.explored, b.predictions),
            "launch {launch}, n={n}"
        );
        assert_eq!(a.reason.as_str(), b.reason.as_str(), "launch {launch}");
        // Noisy timings, so the models keep learning now and then.
        let noise = 1.0 + (lcg(&mut state) % 100) as f64 * 1e-3;
        let t = match a.target {
            Target::Gpu => gpu(n),
            _ => cpu(n),
        } * noise;
        for d in [&mut kept, &mut recomputed] {
            d.observe(
                "k#1",
                &Outcome {
                    predicted: Some(a.predictions.of(a.target)),
                    explored: a.exploration(),
                    ..Outcome::measured(a.target, n, t)
                },
            );
        }
    }
    let hits = kept.kernels["k#1"].settled_hits;
    assert!(hits > 4_000, "settled choices were used {hits} times");
    assert_eq!(recomputed.kernels["k#1"].settled_hits, 0);
}
