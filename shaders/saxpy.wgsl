// y[i] = a * x[i] + y[i] for i < min(n, len(x), len(y)).
// 1-D launches beyond 65535 workgroups are folded into a 2-D grid by the
// runtime; the index is linearized over num_workgroups.x.

struct SaxpyParams {
    a: f32,
    n: u32,
}

@group(0) @binding(0) var<uniform> params: SaxpyParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const WORKGROUP: u32 = 256u;

@compute @workgroup_size(256)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP;
    let n = min(params.n, min(arrayLength(&x), arrayLength(&y)));
    if i >= n {
        return;
    }
    y[i] = params.a * x[i] + y[i];
}
