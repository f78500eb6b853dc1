// All-pairs softened gravity (G = 1): for each body i,
//   a_i = sum_j m_j (r_j - r_i) / (|r_j - r_i|^2 + eps^2)^(3/2).
// bodies[i] = (x, y, z, mass); accel[i] = (ax, ay, az, 0).
// Bodies are staged through workgroup memory one tile of 128 at a time, so
// each body is read from storage n / 128 times instead of n times.
// Softening must be > 0: the j = i term is then exactly zero.

struct NbodyParams {
    n: u32,
    softening2: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: NbodyParams;
@group(0) @binding(1) var<storage, read> bodies: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> accel: array<vec4<f32>>;

const TILE: u32 = 128u;

var<workgroup> tile: array<vec4<f32>, 128>;

@compute @workgroup_size(128)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * TILE;
    let n = min(params.n, arrayLength(&bodies));
    var pi = vec4<f32>(0.0);
    if i < n {
        pi = bodies[i];
    }
    var acc = vec3<f32>(0.0);
    let tiles = (n + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t++) {
        let j = t * TILE + lid.x;
        if j < n {
            tile[lid.x] = bodies[j];
        } else {
            tile[lid.x] = vec4<f32>(0.0); // massless padding contributes nothing
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k++) {
            let pj = tile[k];
            let d = pj.xyz - pi.xyz;
            let r2 = dot(d, d) + params.softening2;
            let inv_r = inverseSqrt(r2);
            acc += d * (pj.w * inv_r * inv_r * inv_r);
        }
        workgroupBarrier();
    }
    if i < n && i < arrayLength(&accel) {
        accel[i] = vec4<f32>(acc, 0.0);
    }
}
