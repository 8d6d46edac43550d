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
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys exports DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rerun-if-env-changed=LIBTORCH");

    // The bf16 autocast shim (csrc/autocast.cpp), against the same libtorch's headers.
    let root = std::path::Path::new(&lib).parent().expect("libtorch's lib folder has a parent").to_path_buf();
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    // at::parallel_for is an inline `#pragma omp parallel`: without OpenMP the shim's kernels
    // would run on one thread. They must use libtorch's own OpenMP runtime (the pip wheel ships
    // libgomp.so.1 beside libtorch), never a second one; without it they stay serial.
    let gomp = std::fs::read_dir(&lib).ok().and_then(|dir| {
        dir.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("libgomp") && n.contains(".so"))
    });
    if let Some(name) = &gomp {
        build.flag("-fopenmp");
        println!("cargo:rustc-link-arg=-l:{name}");
    }
    build
        .cpp(true)
        .file("csrc/autocast.cpp")
        .file("csrc/gather.cpp")
        .file("csrc/bn_relu.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-w")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .compile("clr_autocast");
    println!("cargo:rerun-if-changed=csrc/autocast.cpp");
    println!("cargo:rerun-if-changed=csrc/gather.cpp");
    println!("cargo:rerun-if-changed=csrc/bn_relu.cpp");
    println!("cargo:rerun-if-changed=csrc/bn_relu_kernels.inc");
}
