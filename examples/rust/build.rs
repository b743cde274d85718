//! Links the crate against libcorq.so.
//!
//! CORQ_LIB_DIR names the folder that holds libcorq.so (a build tree's `engine/` folder, or an
//! installed prefix's `lib/`). When it is set, that folder is searched at link time and recorded as
//! the rpath of this package's tests and examples, so `cargo test` runs without LD_LIBRARY_PATH.
//! When it is not set, the library is looked up on the linker's default path (an installed corq).
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=CORQ_LIB_DIR");
    if let Some(dir) = env::var_os("CORQ_LIB_DIR") {
        let dir = Path::new(&dir);
        if !dir.join("libcorq.so").exists() {
            panic!("CORQ_LIB_DIR={} holds no libcorq.so", dir.display());
        }
        let dir = dir.display();
        println!("cargo:rustc-link-search=native={}", dir);
        // Applies to this package's tests, examples and binaries only, never to its dependents.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
    }
    println!("cargo:rustc-link-lib=dylib=corq");
}
