// All-pairs softened gravity (G = 1): for each body i,
//   a_i = sum_j m_j (r_j - r_i) / (|r_j - r_i|^2 + eps^2)^(3/2).
// Structure of arrays, n = params.n bodies:
//   bodies = [x_0 .. x_{n-1}, y_0 .., z_0 .., m_0 ..]   (4n floats)
//   accel  = [ax_0 .. ax_{n-1}, ay_0 .., az_0 ..]       (3n floats)
// Bodies are staged through workgroup memory one tile of 128 at a time, so
// each body is read from storage n / 128 times instead of n times.
// Softening must be > 0: the j = i term is then exactly zero.
// Buffers shorter than 4n / 3n floats: nothing is written (the twin reports
// the error).

struct NbodyParams {
    n: u32,
    softening2: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: NbodyParams;
@group(0) @binding(1) var<storage, read> bodies: array<f32>;
@group(0) @binding(2) var<storage, read_write> accel: array<f32>;

const TILE: u32 = 128u;

var<workgroup> tile: array<vec4<f32>, 128>;

@compute @workgroup_size(128)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let n = params.n;
    // Uniform across the workgroup, so returning keeps the barriers below
    // in uniform control flow.
    if n > arrayLength(&bodies) / 4u || n > arrayLength(&accel) / 3u {
        return;
    }
    let i = gid.x + gid.y * groups.x * TILE;
    var pi = vec3<f32>(0.0);
    if i < n {
        pi = vec3<f32>(bodies[i], bodies[n + i], bodies[2u * n + i]);
    }
    var acc = vec3<f32>(0.0);
    let tiles = (n + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t++) {
        let j = t * TILE + lid.x;
        if j < n {
            tile[lid.x] = vec4<f32>(bodies[j], bodies[n + j], bodies[2u * n + j], bodies[3u * n + j]);
        } else {
            tile[lid.x] = vec4<f32>(0.0); // massless padding contributes nothing
        }
        workgroupBarrier();
        for (var k = 0u; k < TILE; k++) {
            let pj = tile[k];
            let d = pj.xyz - pi;
            let r2 = dot(d, d) + params.softening2;
            let inv_r = inverseSqrt(r2);
            acc += d * (pj.w * inv_r * inv_r * inv_r);
        }
        workgroupBarrier();
    }
    if i < n {
        accel[i] = acc.x;
        accel[n + i] = acc.y;
        accel[2u * n + i] = acc.z;
    }
}
