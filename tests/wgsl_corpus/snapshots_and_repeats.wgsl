// What the executor's clean-ups (`cpu::wgsl::optimize`) must get right:
// a `let` that snapshots a variable keeps the old value after the variable
// changes, also across loop iterations and branches; the same expression
// written twice, in one block and in two branches, gives the same value;
// uniform loads and buffer lengths used inside loops and divergent
// branches are the launch's values.
// invocations: 200
// input: 256 random
// output: 800
// uniform: 7 3 11 0
// compare: exact

struct Params {
    scale: u32,
    shift: u32,
    bias: u32,
    unused: u32,
}

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn bump(p: ptr<function, u32>) -> u32 {
    let before = *p;
    *p = before * params.scale + 1u;
    return before;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= 200u {
        return;
    }
    var v = input[i];
    let old = v;
    v = v ^ params.bias;
    var trail = 0u;
    var k = 0u;
    loop {
        let at_start = k;
        k += 1u;
        // The snapshot is read after `k` changed.
        trail = trail * 3u + at_start + (k << params.shift);
        if (v & (1u << (k % 32u))) != 0u {
            let seen = v;
            v = v + arrayLength(&input);
            trail ^= seen;
        } else {
            trail += (v >> 1u) + (v >> 1u);
        }
        continuing {
            break if k >= (old % 5u) + 2u;
        }
    }
    // The same expression in both branches and twice in one block.
    var twice = 0u;
    if (old & 1u) == 0u {
        twice = (old * params.scale + params.bias) ^ (old * params.scale + params.bias + 1u);
    } else {
        twice = (old * params.scale + params.bias) + arrayLength(&output);
    }
    var counter = old % 7u;
    let first = bump(&counter);
    let second = bump(&counter);
    let base = i * 4u;
    output[base] = old ^ (v << 16u);
    output[base + 1u] = trail;
    output[base + 2u] = twice;
    output[base + 3u] = first * 1000u + second * 10u + counter;
}
