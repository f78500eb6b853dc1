// Nested switch statements, case lists, default in the middle, and a loop
// whose `continue` sits inside a switch.
// invocations: 256
// input: 256 ints
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<i32>;
@group(0) @binding(1) var<storage, read_write> output: array<i32>;

fn classify(x: i32, y: u32) -> i32 {
    switch x % 5 {
        case 0: {
            return 10;
        }
        case 1, -1: {
            switch y % 3u {
                case 0u: { return 20; }
                default: { return 21; }
                case 2u: { return 22; }
            }
        }
        case -3, 3, 4: {
            var r = 30;
            switch (y >> 2u) % 4u {
                case 1u, 2u: { r += 1; }
                case 3u: { r += 2; }
                default: {}
            }
            return r;
        }
        default: {
            return 40 + x % 5;
        }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = input[gid.x];
    var total = classify(x, gid.x);
    for (var k = 0; k < 6; k++) {
        switch (x + k) & 3 {
            case 0: { continue; }
            case 1: { total += k; }
            default: { total -= 1; }
        }
        total *= 3;
    }
    output[gid.x] = total;
}
