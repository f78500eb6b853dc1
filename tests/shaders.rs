//! Every WGSL file in `shaders/` validates with naga, and each is a built-in
//! kernel with a Rust twin (whose parity with the shader is tests/parity.rs).

use switchyard::kernels;

#[test]
fn every_shader_file_validates_and_is_a_builtin_with_a_twin() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let builtins = kernels::builtin_sources();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        seen += 1;
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let source = std::fs::read_to_string(&path).unwrap();
        let layout = switchyard::validate_wgsl(&stem, &source, "main")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(layout.workgroup_size.iter().product::<u32>() > 0);
        let (_, builtin_source, _) = builtins
            .iter()
            .find(|(name, _, _)| *name == stem)
            .unwrap_or_else(|| panic!("{stem}.wgsl is not a built-in kernel with a twin"));
        assert_eq!(
            *builtin_source, source,
            "{stem}: the crate embeds this file"
        );
    }
    assert_eq!(seen, builtins.len());
    for kernel in [
        kernels::saxpy(),
        kernels::reduce_sum(),
        kernels::nbody_accel(),
        kernels::nbody_kick_drift(),
        kernels::nbody_accel_from(),
        kernels::jacobi2d(),
    ] {
        assert!(kernel.has_gpu() && kernel.has_cpu(), "{}", kernel.name());
    }
}
