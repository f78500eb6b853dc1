//! The executor's corpus: compute shaders written for these tests, one or
//! more per WGSL construct, each run on the CPU executor and (when there is
//! an adapter, as in CI with lavapipe) on the GPU, and compared word by
//! word.
//!
//! Every shader in `tests/wgsl_corpus/` follows one convention, stated in
//! its header comments:
//!
//! ```text
//! // invocations: 1000          (or `grid: x y z`)
//! // input: 1024 random         (binding 0, read-only u32 words: iota,
//! //                             random, floats (specials, then random
//! //                             f32), ints (edge cases, then random))
//! // output: 256                (binding 1, u32 words, each first set to
//! //                             0xdeadbeef so unwritten words compare too)
//! // element: 8                 (words per element of the output buffer,
//! //                             for an array of structs; default 1)
//! // uniform: 7 3 0 0           (binding 2, four u32 words)
//! // constant: scale 2.5        (an override constant)
//! // compare: exact             (or `ulps N`: words as f32, NaN = NaN)
//! ```
//!
//! The tolerance of each `ulps` shader is derived in its header: WGSL gives
//! most math built-ins an error bound in ulps (or absolute, near zero), and
//! the GPU may fuse multiply-adds.

mod common;

use common::{cpu_runtime, gpu_runtime, random_f32};
use switchyard::{CpuImplementation, Kernel, Runtime, Target};

const SENTINEL: u32 = 0xdead_beef;

#[derive(Debug)]
enum Compare {
    Exact,
    Ulps(u32),
}

#[derive(Debug)]
struct Case {
    name: String,
    source: String,
    size: Size,
    input: Option<Vec<u32>>,
    output_words: usize,
    /// Words per element of the output buffer (`element: 8` for an array
    /// of 32-byte structs).
    output_element_words: usize,
    uniform: Option<[u32; 4]>,
    constants: Vec<(String, f64)>,
    compare: Compare,
}

#[derive(Debug)]
enum Size {
    Invocations(u32),
    Grid([u32; 3]),
}

/// Special f32 bit patterns first (zeros, ones, extremes, subnormals,
/// infinities, NaN), then random floats over many magnitudes.
fn float_words(count: usize) -> Vec<u32> {
    let specials: [f32; 16] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        2.0,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-40,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        std::f32::consts::PI,
        100.0,
        -1e-3,
    ];
    let random = random_f32(count, 99);
    (0..count)
        .map(|i| match specials.get(i) {
            Some(v) => v.to_bits(),
            // Spread over magnitudes 2^-20 .. 2^20.
            None => (random[i] * 2f32.powi((i % 41) as i32 - 20)).to_bits(),
        })
        .collect()
}

/// Integer edge cases first, then random words.
fn int_words(count: usize) -> Vec<u32> {
    let specials = [
        0u32,
        1,
        u32::MAX, // -1
        0x8000_0000,
        0x7fff_ffff,
        2,
        31,
        32,
        33,
        0xffff_fffe, // -2
        7,
        0xaaaa_aaaa,
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..count)
        .map(|i| match specials.get(i) {
            Some(&v) => v,
            None => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 16) as u32
            }
        })
        .collect()
}

fn parse(name: &str, source: &str) -> Case {
    let mut case = Case {
        name: name.into(),
        source: source.into(),
        size: Size::Invocations(1),
        input: None,
        output_words: 0,
        output_element_words: 1,
        uniform: None,
        constants: Vec::new(),
        compare: Compare::Exact,
    };
    for line in source.lines() {
        let Some(header) = line.trim().strip_prefix("// ") else {
            continue;
        };
        let Some((key, value)) = header.split_once(": ") else {
            continue;
        };
        let words: Vec<&str> = value.split_whitespace().collect();
        let number = |i: usize| -> u32 {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{name}: `{header}`"))
        };
        match key {
            "invocations" => case.size = Size::Invocations(number(0)),
            "grid" => case.size = Size::Grid([number(0), number(1), number(2)]),
            "output" => case.output_words = number(0) as usize,
            "element" => case.output_element_words = number(0) as usize,
            "uniform" => case.uniform = Some([number(0), number(1), number(2), number(3)]),
            "constant" => case.constants.push((
                words[0].to_string(),
                words[1].parse().expect("constant value"),
            )),
            "compare" => {
                case.compare = match words[0] {
                    "exact" => Compare::Exact,
                    "ulps" => Compare::Ulps(number(1)),
                    other => panic!("{name}: unknown comparison {other}"),
                }
            }
            "input" => {
                let count = number(0) as usize;
                case.input = Some(match words.get(1).copied() {
                    Some("iota") => (0..count as u32).collect(),
                    Some("random") => int_words(count + 12)[12..].to_vec(),
                    Some("floats") => float_words(count),
                    Some("ints") => int_words(count),
                    other => panic!("{name}: unknown input {other:?}"),
                });
            }
            _ => {}
        }
    }
    assert!(case.output_words > 0, "{name}: no `output:` header");
    case
}

fn corpus() -> Vec<Case> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wgsl_corpus");
    let mut cases: Vec<Case> = std::fs::read_dir(&dir)
        .expect("tests/wgsl_corpus exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wgsl"))
        .map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            parse(&name, &std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn kernel(case: &Case) -> Result<Kernel, String> {
    let mut kernel =
        Kernel::wgsl(case.name.clone(), case.source.clone(), "main").map_err(|e| e.to_string())?;
    for (name, value) in &case.constants {
        kernel = kernel.constant(name.clone(), *value);
    }
    Ok(kernel)
}

/// Runs `case` on `target`, returning the output words.
fn run(rt: &Runtime, case: &Case, target: Target) -> Result<Vec<u32>, String> {
    // The output buffer's element size must match the shader's array stride.
    match case.output_element_words {
        1 => run_with::<u32>(rt, case, target),
        2 => run_with::<[u32; 2]>(rt, case, target),
        4 => run_with::<[u32; 4]>(rt, case, target),
        8 => run_with::<[u32; 8]>(rt, case, target),
        other => Err(format!("{}: no element type of {other} words", case.name)),
    }
}

fn run_with<E: bytemuck::Pod>(
    rt: &Runtime,
    case: &Case,
    target: Target,
) -> Result<Vec<u32>, String> {
    let kernel = kernel(case)?;
    let input = case
        .input
        .as_ref()
        .map(|words| rt.buffer_from_slice(words).unwrap());
    let words = vec![SENTINEL; case.output_words];
    let elements: &[E] = bytemuck::cast_slice(&words);
    let mut output = rt.buffer_from_slice(elements).unwrap();
    let mut launch = rt.launch(&kernel);
    if let Some(input) = &input {
        launch = launch.read(input);
    }
    launch = launch.write(&mut output);
    if let Some(uniform) = &case.uniform {
        launch = launch.uniform(uniform);
    }
    launch = match case.size {
        Size::Invocations(n) => launch.invocations(n),
        Size::Grid(grid) => launch.grid(grid),
    };
    let report = launch
        .on(target)
        .run()
        .map_err(|e| format!("{} on {target}: {e}", case.name))?;
    if target == Target::Cpu && report.cpu_implementation != Some(CpuImplementation::Wgsl) {
        return Err(format!(
            "{}: ran {:?}",
            case.name, report.cpu_implementation
        ));
    }
    Ok(bytemuck::cast_slice(&output.to_vec().unwrap()).to_vec())
}

/// The distance in ulps between two floats (0 for two NaNs).
fn ulps(a: u32, b: u32) -> u64 {
    let (fa, fb) = (f32::from_bits(a), f32::from_bits(b));
    if fa.is_nan() && fb.is_nan() {
        return 0;
    }
    // Map the bit patterns onto a line where adjacent floats differ by 1.
    let ordered = |bits: u32| -> i64 {
        if bits & 0x8000_0000 != 0 {
            -i64::from(bits & 0x7fff_ffff)
        } else {
            i64::from(bits)
        }
    };
    ordered(a).abs_diff(ordered(b))
}

#[test]
fn every_corpus_shader_runs_on_the_executor_and_matches_the_gpu() {
    let cases = corpus();
    assert!(cases.len() >= 41, "the corpus has {} shaders", cases.len());
    let cpu = cpu_runtime();
    let gpu = gpu_runtime();
    let mut failures = Vec::new();
    for case in &cases {
        let on_cpu = match run(&cpu, case, Target::Cpu) {
            Ok(words) => words,
            Err(error) => {
                failures.push(error);
                continue;
            }
        };
        let Some(gpu) = &gpu else { continue };
        let on_gpu = match run(gpu, case, Target::Gpu) {
            Ok(words) => words,
            Err(error) => {
                failures.push(error);
                continue;
            }
        };
        for (i, (&c, &g)) in on_cpu.iter().zip(&on_gpu).enumerate() {
            let agree = match case.compare {
                Compare::Exact => c == g,
                Compare::Ulps(limit) => ulps(c, g) <= u64::from(limit),
            };
            if !agree {
                failures.push(format!(
                    "{} word {i}: executor {c:#010x} ({}) gpu {g:#010x} ({})",
                    case.name,
                    f32::from_bits(c),
                    f32::from_bits(g)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures
            .iter()
            .take(400)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
