// Link libtorch so that its CUDA half is kept, and record where it lives so the binary runs
// without LD_LIBRARY_PATH.
fn main() {
    // Without --no-as-needed the linker drops libtorch_cuda.so (no symbol of it is referenced
    // directly) and tch::Cuda::is_available() is false even on a GPU machine.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
    // torch-sys, a direct dependency, exports the folder of the libtorch it linked against.
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-link-search=native={lib}");
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
}
