//! Copies the C/C++ headers that `wasmtime-c-api-impl` publishes into our
//! OUT_DIR/include. The crate has `links = "wasmtime-c-api"` and its build
//! script prints `cargo:include=<dir>`, which cargo hands to direct dependents
//! as DEP_WASMTIME_C_API_INCLUDE. That directory already holds the generated
//! `wasmtime/conf.h` matching the features we enabled.
//! scripts/build-wasmtime.sh finds OUT_DIR from cargo's JSON messages.
use std::fs;
use std::path::{Path, PathBuf};

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<usize> {
    fs::create_dir_all(dst)?;
    let mut n = 0;
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            n += copy_tree(&from, &to)?;
        } else {
            fs::copy(&from, &to)?;
            n += 1;
        }
    }
    Ok(n)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_WASMTIME_C_API_INCLUDE");
    let src = PathBuf::from(std::env::var("DEP_WASMTIME_C_API_INCLUDE").expect(
        "DEP_WASMTIME_C_API_INCLUDE not set: wasmtime-c-api-impl no longer publishes its headers",
    ));
    for required in ["wasm.h", "wasi.h", "wasmtime.h", "wasmtime/conf.h"] {
        assert!(
            src.join(required).is_file(),
            "{} missing from {}",
            required,
            src.display()
        );
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("include");
    if out.exists() {
        fs::remove_dir_all(&out).unwrap();
    }
    let n = copy_tree(&src, &out).expect("copying Wasmtime headers");
    println!("cargo:rustc-env=WASMGATE_WASMTIME_HEADERS={}", out.display());
    // Visible with `cargo build -vv`; the install script reads OUT_DIR instead.
    eprintln!("copied {n} headers from {} to {}", src.display(), out.display());
}
