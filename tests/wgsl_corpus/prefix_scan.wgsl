// Inclusive prefix sums within each workgroup of 64 (Hillis-Steele, two
// barriers per step, a ping-pong pair of workgroup arrays).
// invocations: 300
// input: 300 random
// output: 320
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

var<workgroup> a: array<u32, 64>;
var<workgroup> b: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = lid.x;
    var value = 0u;
    if gid.x < arrayLength(&input) {
        value = input[gid.x] % 1000u;
    }
    a[i] = value;
    workgroupBarrier();
    var from_a = true;
    for (var offset = 1u; offset < 64u; offset *= 2u) {
        if from_a {
            var sum = a[i];
            if i >= offset {
                sum += a[i - offset];
            }
            b[i] = sum;
        } else {
            var sum = b[i];
            if i >= offset {
                sum += b[i - offset];
            }
            a[i] = sum;
        }
        workgroupBarrier();
        from_a = !from_a;
    }
    if from_a {
        output[gid.x] = a[i];
    } else {
        output[gid.x] = b[i];
    }
}
