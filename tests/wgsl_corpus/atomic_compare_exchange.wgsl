// atomicCompareExchangeWeak in a retry loop, the portable way to build an
// operation WGSL lacks (here: a maximum of v * 3 + 1, wrapping). The weak
// form may fail spuriously on a GPU, so only the final words are compared,
// plus whether the last attempt of every lane reported success.
// invocations: 256
// input: 256 random
// output: 260
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let want = input[gid.x] * 3u + 1u;
    let slot = gid.x % 4u;
    var seen = atomicLoad(&output[slot]);
    var tries = 0u;
    loop {
        if seen != 0xdeadbeefu && seen >= want {
            break;
        }
        let result = atomicCompareExchangeWeak(&output[slot], seen, want);
        if result.exchanged {
            break;
        }
        seen = result.old_value;
        tries += 1u;
        if tries > 100000u {
            break;
        }
    }
    atomicStore(&output[4u + gid.x], select(0u, 1u, tries <= 100000u));
}
