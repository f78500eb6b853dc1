//! A differential property test of the WGSL executor: randomly generated,
//! well-formed compute shaders (integer and boolean expressions, `if`,
//! bounded loops with `break` and `continue`, `switch`, loads at random and
//! out-of-bounds indices, stores that may fall outside the buffer) run on
//! the executor and, when there is an adapter (lavapipe in CI), on the GPU,
//! and must write the same words.
//!
//! Integer arithmetic is exactly defined in WGSL (wrapping, `x / 0 = x`,
//! `MIN / -1 = MIN`, masked shifts), so the comparison is exact. Every
//! constant is written as `zero + c`, `zero` a value read at run time, so
//! naga's constant evaluator (which rejects `1u / 0u`) never sees a
//! constant expression. Each invocation stores only into its own four words
//! (or past the end of the buffer), so there are no races to disagree on.

mod common;

use common::{cpu_runtime, gpu_runtime};
use proptest::prelude::*;
use switchyard::{Kernel, Runtime, Target};

const INPUT_WORDS: u32 = 64;
const INVOCATIONS: u32 = 96;
const OUTPUT_WORDS: u32 = 4 * INVOCATIONS;

#[derive(Clone, Debug)]
enum Expr {
    Constant(u32),
    Variable(usize),
    GlobalId,
    /// `input[index % modulus]`; moduli above the input's length read out
    /// of bounds (0).
    Input(Box<Expr>, u32),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// The same operator on the operands as `i32`.
    Signed(&'static str, Box<Expr>, Box<Expr>),
    Builtin(&'static str, Box<Expr>),
    Pick(Box<Expr>, Box<Expr>, Box<Expr>, &'static str, Box<Expr>),
}

const VARIABLES: usize = 4;

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        any::<u32>().prop_map(Expr::Constant),
        prop::sample::select(vec![0u32, 1, 2, 31, 32, 0x8000_0000, u32::MAX])
            .prop_map(Expr::Constant),
        (0..VARIABLES).prop_map(Expr::Variable),
        Just(Expr::GlobalId),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        let binary = prop::sample::select(vec![
            "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "min", "max",
        ]);
        let signed = prop::sample::select(vec!["/", "%", ">>", "min", "max", "*"]);
        let builtin = prop::sample::select(vec![
            "countOneBits",
            "reverseBits",
            "firstLeadingBit",
            "firstTrailingBit",
            "countLeadingZeros",
            "abs_signed",
            "negate",
            "not",
        ]);
        let compare = prop::sample::select(vec!["<", "<=", "==", "!=", ">", ">="]);
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![8u32, 64, 80, 1000])
            )
                .prop_map(|(e, m)| Expr::Input(Box::new(e), m)),
            (binary, inner.clone(), inner.clone()).prop_map(|(op, a, b)| Expr::Binary(
                op,
                Box::new(a),
                Box::new(b)
            )),
            (signed, inner.clone(), inner.clone()).prop_map(|(op, a, b)| Expr::Signed(
                op,
                Box::new(a),
                Box::new(b)
            )),
            (builtin, inner.clone()).prop_map(|(f, a)| Expr::Builtin(f, Box::new(a))),
            (inner.clone(), inner.clone(), inner.clone(), compare, inner).prop_map(
                |(a, b, l, c, r)| {
                    Expr::Pick(Box::new(a), Box::new(b), Box::new(l), c, Box::new(r))
                }
            ),
        ]
    })
}

#[derive(Clone, Debug)]
enum Stmt {
    Assign(usize, Expr),
    Store(Expr, Expr, bool),
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    /// `for (i < trips)` with a `break` and a `continue` on conditions.
    Loop(u32, Expr, Expr, Vec<Stmt>),
    Switch(Expr, Vec<Stmt>, Vec<Stmt>, Vec<Stmt>),
}

fn stmts(depth: u32) -> BoxedStrategy<Vec<Stmt>> {
    let simple = prop_oneof![
        ((0..VARIABLES), expr()).prop_map(|(v, e)| Stmt::Assign(v, e)),
        (expr(), expr(), prop::bool::weighted(0.1))
            .prop_map(|(slot, value, past)| Stmt::Store(slot, value, past)),
    ];
    if depth == 0 {
        return prop::collection::vec(simple, 1..4).boxed();
    }
    let nested = prop_oneof![
        3 => simple,
        1 => (expr(), stmts(depth - 1), stmts(depth - 1)).prop_map(|(c, a, r)| Stmt::If(c, a, r)),
        1 => (1u32..6, expr(), expr(), stmts(depth - 1)).prop_map(|(t, b, c, body)| Stmt::Loop(t, b, c, body)),
        1 => (expr(), stmts(depth - 1), stmts(depth - 1), stmts(depth - 1))
            .prop_map(|(s, a, b, d)| Stmt::Switch(s, a, b, d)),
    ];
    prop::collection::vec(nested, 1..5).boxed()
}

fn render_expr(e: &Expr) -> String {
    match e {
        Expr::Constant(c) => format!("(zero + {c}u)"),
        Expr::Variable(v) => format!("v{v}"),
        Expr::GlobalId => "gid.x".into(),
        Expr::Input(i, m) => format!("input[{} % {m}u]", render_expr(i)),
        Expr::Binary(op, a, b) if op.len() > 2 => {
            format!("{op}({}, {})", render_expr(a), render_expr(b))
        }
        Expr::Binary(op, a, b) => format!("({} {op} {})", render_expr(a), render_expr(b)),
        Expr::Signed(">>", a, b) => {
            format!(
                "bitcast<u32>(bitcast<i32>({}) >> {})",
                render_expr(a),
                render_expr(b)
            )
        }
        Expr::Signed(op, a, b) if op.len() > 2 => format!(
            "bitcast<u32>({op}(bitcast<i32>({}), bitcast<i32>({})))",
            render_expr(a),
            render_expr(b)
        ),
        Expr::Signed(op, a, b) => format!(
            "bitcast<u32>(bitcast<i32>({}) {op} bitcast<i32>({}))",
            render_expr(a),
            render_expr(b)
        ),
        Expr::Builtin("abs_signed", a) => {
            format!("bitcast<u32>(abs(bitcast<i32>({})))", render_expr(a))
        }
        Expr::Builtin("negate", a) => format!("bitcast<u32>(-bitcast<i32>({}))", render_expr(a)),
        Expr::Builtin("not", a) => format!("(~{})", render_expr(a)),
        Expr::Builtin(f, a) => format!("{f}({})", render_expr(a)),
        Expr::Pick(a, b, l, c, r) => format!(
            "select({}, {}, {} {c} {})",
            render_expr(a),
            render_expr(b),
            render_expr(l),
            render_expr(r)
        ),
    }
}

fn render(body: &[Stmt], indent: usize, out: &mut String, loop_depth: usize) {
    let pad = "    ".repeat(indent);
    for s in body {
        match s {
            Stmt::Assign(v, e) => out.push_str(&format!("{pad}v{v} = {};\n", render_expr(e))),
            Stmt::Store(slot, value, past) => {
                let beyond = if *past { " + 100000u" } else { "" };
                out.push_str(&format!(
                    "{pad}output[gid.x * 4u + {} % 4u{beyond}] = {};\n",
                    render_expr(slot),
                    render_expr(value)
                ));
            }
            Stmt::If(c, a, r) => {
                out.push_str(&format!("{pad}if ({} & 1u) == 1u {{\n", render_expr(c)));
                render(a, indent + 1, out, loop_depth);
                out.push_str(&format!("{pad}}} else {{\n"));
                render(r, indent + 1, out, loop_depth);
                out.push_str(&format!("{pad}}}\n"));
            }
            Stmt::Loop(trips, b, c, body) => {
                let i = format!("i{loop_depth}");
                out.push_str(&format!(
                    "{pad}for (var {i} = 0u; {i} < {trips}u; {i}++) {{\n"
                ));
                out.push_str(&format!(
                    "{pad}    if ({} % 7u) == {i} {{ break; }}\n",
                    render_expr(b)
                ));
                out.push_str(&format!(
                    "{pad}    if ({} % 5u) == {i} {{ continue; }}\n",
                    render_expr(c)
                ));
                out.push_str(&format!("{pad}    v0 = v0 + {i};\n"));
                render(body, indent + 1, out, loop_depth + 1);
                out.push_str(&format!("{pad}}}\n"));
            }
            Stmt::Switch(selector, a, b, d) => {
                out.push_str(&format!("{pad}switch {} % 4u {{\n", render_expr(selector)));
                out.push_str(&format!("{pad}    case 0u, 3u: {{\n"));
                render(a, indent + 2, out, loop_depth);
                out.push_str(&format!("{pad}    }}\n{pad}    case 1u: {{\n"));
                render(b, indent + 2, out, loop_depth);
                out.push_str(&format!("{pad}    }}\n{pad}    default: {{\n"));
                render(d, indent + 2, out, loop_depth);
                out.push_str(&format!("{pad}    }}\n{pad}}}\n"));
            }
        }
    }
}

fn shader(body: &[Stmt]) -> String {
    let mut out = String::from(
        "@group(0) @binding(0) var<storage, read> input: array<u32>;\n\
         @group(0) @binding(1) var<storage, read_write> output: array<u32>;\n\
         @compute @workgroup_size(32)\n\
         fn main(@builtin(global_invocation_id) gid: vec3<u32>) {\n\
         \x20   let zero = input[0] & 0u;\n\
         \x20   var v0 = input[gid.x % 64u];\n\
         \x20   var v1 = gid.x * 2654435761u;\n\
         \x20   var v2 = zero + 7u;\n\
         \x20   var v3 = input[(gid.x * 5u) % 64u] ^ gid.x;\n",
    );
    render(body, 1, &mut out, 0);
    out.push_str("    output[gid.x * 4u + 3u] = v0 ^ v1 ^ v2 ^ v3;\n}\n");
    out
}

fn inputs() -> Vec<u32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let specials = [0u32, 1, u32::MAX, 0x8000_0000, 0x7fff_ffff, 31, 32];
    (0..INPUT_WORDS as usize)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            specials
                .get(i % 16)
                .copied()
                .unwrap_or((state >> 20) as u32)
        })
        .collect()
}

fn run(rt: &Runtime, kernel: &Kernel, target: Target) -> Vec<u32> {
    let input = rt.buffer_from_slice(&inputs()).unwrap();
    let mut output = rt
        .buffer_from_slice(&vec![0xdead_beefu32; OUTPUT_WORDS as usize])
        .unwrap();
    rt.launch(kernel)
        .read(&input)
        .write(&mut output)
        .invocations(INVOCATIONS)
        .on(target)
        .run()
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    output.to_vec().unwrap()
}

fn runtimes() -> &'static (Runtime, Option<Runtime>) {
    static RUNTIMES: std::sync::OnceLock<(Runtime, Option<Runtime>)> = std::sync::OnceLock::new();
    RUNTIMES.get_or_init(|| (cpu_runtime(), gpu_runtime()))
}

proptest! {
    // Each case compiles a pipeline for lavapipe (tens of milliseconds).
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_integer_shaders_agree_with_the_gpu(body in stmts(2)) {
        let source = shader(&body);
        let kernel = Kernel::wgsl("random", source.as_str(), "main")
            .unwrap_or_else(|e| panic!("the generator wrote invalid WGSL: {e}\n{source}"));
        let (cpu, gpu) = runtimes();
        let on_cpu = run(cpu, &kernel, Target::Cpu);
        if let Some(gpu) = gpu {
            let on_gpu = run(gpu, &kernel, Target::Gpu);
            prop_assert!(on_cpu == on_gpu, "executor and GPU differ for\n{}\nfirst difference at word {:?}", source,
                on_cpu.iter().zip(&on_gpu).position(|(a, b)| a != b));
        }
    }
}
