//! Links the crate against libcorq.so, found in this order:
//!
//! 1. `CORQ_LIB_DIR`: the folder that holds libcorq.so (a build tree's `engine/` folder, or an
//!    installed prefix's `lib/`). It must hold the library: a wrong folder is an error, never a
//!    silent fallback. Set but empty counts as unset.
//! 2. The `pkg-config` program (or the one `PKG_CONFIG` names) asked for the package `corq`, as an
//!    installed corq provides it (`lib/pkgconfig/corq.pc`; `PKG_CONFIG_PATH` for a prefix outside
//!    pkg-config's default path). Its `libdir` is searched at link time.
//! 3. Neither: the linker's default path, with a warning (an install into /usr needs nothing more).
//!
//! In cases 1 and 2 the folder is also recorded as the rpath of this package's own tests, examples
//! and doc tests (`cargo:rustc-link-arg` never reaches dependent crates), so `cargo test` runs
//! without LD_LIBRARY_PATH; a dependent program links the same way and chooses its own rpath.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders the dynamic loader searches anyway: no rpath for those.
const SYSTEM_LIB_DIRS: &[&str] = &[
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
];

fn main() {
    for var in ["CORQ_LIB_DIR", "PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR"] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    let dir = if let Some(dir) = env::var_os("CORQ_LIB_DIR").filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("libcorq.so").exists() {
            panic!("CORQ_LIB_DIR={} holds no libcorq.so", dir.display());
        }
        Some(dir)
    } else {
        match pkg_config_libdir() {
            Ok(dir) => Some(dir),
            Err(why) => {
                println!(
                    "cargo:warning=corq: {}; linking -lcorq from the linker's default path \
                     (set CORQ_LIB_DIR or PKG_CONFIG_PATH to choose a corq)",
                    why
                );
                None
            }
        }
    };
    if let Some(dir) = dir {
        let shown = dir.display();
        println!("cargo:rustc-link-search=native={}", shown);
        if !SYSTEM_LIB_DIRS.iter().any(|system| Path::new(system) == dir) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", shown);
        }
    }
    println!("cargo:rustc-link-lib=dylib=corq");
}

/// `pkg-config --variable=libdir corq`, checked to hold libcorq.so.
fn pkg_config_libdir() -> Result<PathBuf, String> {
    let program = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let output = Command::new(&program)
        .args(["--variable=libdir", "corq"])
        .output()
        .map_err(|e| format!("cannot run {}: {}", program, e))?;
    if !output.status.success() {
        return Err(format!(
            "{} knows no package corq: {}",
            program,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| "libdir is not UTF-8".to_string())?;
    let dir = PathBuf::from(text.trim());
    if dir.as_os_str().is_empty() || !dir.join("libcorq.so").exists() {
        return Err(format!("pkg-config's libdir {:?} holds no libcorq.so", dir));
    }
    // A relocatable corq.pc gives PREFIX/lib/pkgconfig/../../lib: record the plain path.
    Ok(dir.canonicalize().unwrap_or(dir))
}
