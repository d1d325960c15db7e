//! Links the release `bootstrap` as a position-dependent executable (`-no-pie`) on Linux/glibc:
//! the dynamic loader then has no relocations to apply at start (a PIE bootstrap carries
//! ~1.4 MB of them, applied at every cold start and written into pages that become private
//! memory), and the package is smaller. The code itself stays position-independent; only the
//! executable's load address is fixed (shared libraries and the stack are still randomised).
//! Set MAAS_PIE=1 to link a PIE.

fn main() {
    println!("cargo:rerun-if-env-changed=MAAS_PIE");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if linux_gnu && release && std::env::var_os("MAAS_PIE").is_none() {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
