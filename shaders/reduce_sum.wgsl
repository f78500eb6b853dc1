// One pass of a full f32 sum: workgroup g writes the sum of input elements
// [g * 1024, (g + 1) * 1024) to partial[g]. The runtime repeats passes on the
// partial sums until one value is left (see `kernels::sum`).
//
// Each thread first adds its 4 strided elements in order, then the workgroup
// combines the 256 values with a fixed pairwise tree. The Rust twin follows
// the same order, so both produce the same bits.

struct ReduceParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;

const WORKGROUP: u32 = 256u;
const ITEMS: u32 = 4u;

var<workgroup> scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let group = wid.x + wid.y * groups.x;
    let n = min(params.n, arrayLength(&input));
    let base = group * WORKGROUP * ITEMS;
    var acc = 0.0;
    for (var k = 0u; k < ITEMS; k++) {
        let i = base + k * WORKGROUP + lid.x;
        if i < n {
            acc += input[i];
        }
    }
    scratch[lid.x] = acc;
    workgroupBarrier();
    for (var stride = WORKGROUP / 2u; stride > 0u; stride >>= 1u) {
        if lid.x < stride {
            scratch[lid.x] += scratch[lid.x + stride];
        }
        workgroupBarrier();
    }
    if lid.x == 0u && group < arrayLength(&partial) {
        partial[group] = scratch[0];
    }
}
