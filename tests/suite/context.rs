//! Adapter facts read off wgpu's adapter info.

use mlp_gpu::gpu::context::old_lavapipe;

#[test]
fn old_lavapipe_is_mesa_before_24_and_only_lavapipe() {
    let debian12 = "Mesa 22.3.6 (LLVM 15.0.6)";
    assert_eq!(old_lavapipe("llvmpipe", debian12), Some("22.3.6"));
    assert_eq!(
        old_lavapipe("llvmpipe", "Mesa 23.3.1 (LLVM 16.0.6)"),
        Some("23.3.1")
    );
    let backports = "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)";
    assert_eq!(old_lavapipe("llvmpipe", backports), None);
    assert_eq!(old_lavapipe("llvmpipe", "Mesa 24.0.0"), None);
    // the GL adapter has no driver name; other drivers are never lavapipe
    assert_eq!(old_lavapipe("", "4.5 (Core Profile) Mesa 22.3.6"), None);
    assert_eq!(old_lavapipe("NVIDIA", "580.159.04"), None);
    assert_eq!(old_lavapipe("llvmpipe", "unknown"), None);
}
