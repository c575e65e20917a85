//! Generates include/pyth.h from the C boundary with cbindgen, and gives
//! the shared library its soname.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    // cbindgen reads the whole crate (an extern block anywhere would reach
    // the header), so any source change reruns it.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpyth.so.0");
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            dir.join("pyth.map").display()
        );
    }
    // Loom builds compile the core only; the header does not change there.
    if std::env::var("CARGO_CFG_LOOM").is_ok() {
        return;
    }
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let header = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let out = dir.join("include/pyth.h");
    // Write only on change, so the timestamp (and make) stay quiet.
    let mut bytes = Vec::new();
    header.write(&mut bytes);
    if std::fs::read(&out).ok().as_deref() != Some(&bytes[..]) {
        std::fs::write(&out, bytes).expect("write include/pyth.h");
    }
}
