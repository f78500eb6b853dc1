// Accelerations of one set of bodies (the targets) due to another (the
// sources), softened gravity as in nbody_accel.wgsl (G = 1):
//   a_i (+)= sum_j m_j (s_j - t_i) / (|s_j - t_i|^2 + eps^2)^(3/2).
// Structure of arrays: targets = [x.., y.., z.., m..] (4 nt floats; their
// masses are not used), sources likewise (4 ns), accel = [ax.., ay.., az..]
// (3 nt). accumulate = 1 adds the sum to accel, 0 replaces accel with it:
// a domain-decomposed step sums its bodies' accelerations block by block as
// the blocks come around a ring. The sources may be the targets themselves
// (softening must then be > 0: the j = i term is exactly zero).
// Buffers shorter than that: nothing is written (the twin reports the error).

struct NbodyFromParams {
    targets: u32,
    sources: u32,
    softening2: f32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: NbodyFromParams;
@group(0) @binding(1) var<storage, read> targets: array<f32>;
@group(0) @binding(2) var<storage, read> sources: array<f32>;
@group(0) @binding(3) var<storage, read_write> accel: array<f32>;

const TILE: u32 = 128u;

var<workgroup> tile: array<vec4<f32>, 128>;

@compute @workgroup_size(128)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let nt = params.targets;
    let ns = params.sources;
    // Uniform across the workgroup, so returning keeps the barriers below
    // in uniform control flow.
    if nt > arrayLength(&targets) / 4u || ns > arrayLength(&sources) / 4u
        || nt > arrayLength(&accel) / 3u {
        return;
    }
    let i = gid.x + gid.y * groups.x * TILE;
    var pi = vec3<f32>(0.0);
    if i < nt {
        pi = vec3<f32>(targets[i], targets[nt + i], targets[2u * nt + i]);
    }
    var acc = vec3<f32>(0.0);
    let tiles = (ns + TILE - 1u) / TILE;
    for (var t = 0u; t < tiles; t++) {
        let j = t * TILE + lid.x;
        if j < ns {
            tile[lid.x] = vec4<f32>(sources[j], sources[ns + j], sources[2u * ns + j], sources[3u * ns + j]);
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
    if i < nt {
        if params.accumulate != 0u {
            acc += vec3<f32>(accel[i], accel[nt + i], accel[2u * nt + i]);
        }
        accel[i] = acc.x;
        accel[nt + i] = acc.y;
        accel[2u * nt + i] = acc.z;
    }
}
