// An array of structs in a storage buffer, read and written field by field
// and whole, with a uniform struct holding an array indexed per lane.
// invocations: 100
// output: 800
// element: 8
// uniform: 3 5 7 9
// compare: exact

struct Particle {
    pos: vec2<f32>,
    vel: vec2<f32>,
    id: u32,
    flags: u32,
    mass: f32,
    pad: u32,
}

struct Params {
    weights: array<vec4<u32>, 1>,
}

@group(0) @binding(1) var<storage, read_write> particles: array<Particle>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= arrayLength(&particles) {
        return;
    }
    var p = particles[i];
    p.id = i;
    p.pos = vec2<f32>(f32(i), f32(i % 7u)) * 0.5;
    p.vel = vec2<f32>(1.0, -1.0) * f32(params.weights[0][i % 4u]);
    p.flags = params.weights[0].x << (i % 8u);
    p.mass = f32(i) * 0.125;
    particles[i] = p;
    particles[i].pos += particles[i].vel * 0.25;
    particles[i].pad = bitcast<u32>(particles[i].pos.x + particles[i].pos.y);
}
