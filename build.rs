//! Link settings for the `snaptree` binary.
//!
//! On Linux with glibc, the binary's relative relocations are packed (`DT_RELR`) when the
//! linker and the C library take it: the unpacked table is about 8 MB for this binary
//! (vim_rs's many types), read in full at every start and counted in the process's memory.
//! Packed, it is a few kilobytes and the start touches 8 MB less. A tool chain without it
//! (binutils before 2.38, glibc before 2.36) links the usual way.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SNAPTREE_NO_PACKED_RELOCS");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    if target_os != "linux"
        || target_env != "gnu"
        || host != target
        || std::env::var_os("SNAPTREE_NO_PACKED_RELOCS").is_some()
    {
        return;
    }
    if packed_relocations_work() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Link and run a tiny program with packed relocations: both the linker and the C
/// library must take them.
fn packed_relocations_work() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let source = out.join("relr_probe.c");
    let probe = out.join("relr_probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let linked = Command::new("cc")
        .arg("-pie")
        .arg("-fPIE")
        .arg("-Wl,-z,pack-relative-relocs")
        .arg("-o")
        .arg(&probe)
        .arg(&source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    linked
        && Command::new(&probe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}
