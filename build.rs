// Link libtorch so that its CUDA half is kept, record where it lives so the binary runs without
// LD_LIBRARY_PATH, and compile the C++ shims in csrc/ against the same libtorch's headers.
use std::path::{Path, PathBuf};

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
    // The real folder, not the clone's .libtorch link: a binary copied or installed elsewhere
    // (cargo install) keeps finding libtorch when the clone moves or goes.
    let runpath = std::fs::canonicalize(&lib).map(|p| p.display().to_string()).unwrap_or_else(|_| lib.clone());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{runpath}");
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rerun-if-changed=csrc/guarded.h");

    let root = Path::new(&lib).parent().expect("libtorch's lib folder has a parent").to_path_buf();
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let shim = |file: &str| {
        let mut build = cc::Build::new();
        // libtorch's headers as system headers: their own warnings stay quiet, the shims' show.
        build.cpp(true).file(file).flag("-std=c++17").define("_GLIBCXX_USE_CXX11_ABI", abi.as_str());
        system_includes(&mut build, [root.join("include"), root.join("include/torch/csrc/api/include")]);
        println!("cargo:rerun-if-changed={file}");
        build
    };

    // The bf16 autocast shim (csrc/autocast.cpp).
    shim("csrc/autocast.cpp").compile("clr_autocast");

    // The CPU kernels: the batch gather and the fused batch norm + residual + ReLU. Their
    // at::parallel_for is an inline `#pragma omp parallel`: without OpenMP they would run on one
    // thread. They must use libtorch's own OpenMP runtime (the pip wheel ships libgomp.so.1
    // beside libtorch), never a second one; without it they stay serial.
    let mut kernels = shim("csrc/gather.cpp");
    kernels.file("csrc/bn_relu.cpp");
    println!("cargo:rerun-if-changed=csrc/bn_relu.cpp");
    println!("cargo:rerun-if-changed=csrc/bn_relu_kernels.inc");
    let gomp = std::fs::read_dir(&lib).ok().and_then(|dir| {
        dir.filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with("libgomp") && n.contains(".so"))
    });
    match &gomp {
        Some(name) => {
            kernels.flag("-fopenmp");
            println!("cargo:rustc-link-arg=-l:{name}");
        }
        None => println!("cargo:warning=clr: no libgomp beside libtorch: the CPU kernels run on one thread"),
    }
    kernels.compile("clr_kernels");

    // The c10d shim (csrc/dist.cpp): each backend only when its headers are here, so that clr
    // builds without them; asking for a missing backend at run time says what to install.
    let mut dist = shim("csrc/dist.cpp");
    match gloo_include() {
        Some(dir) => {
            system_includes(&mut dist, [dir]);
            dist.define("USE_C10D_GLOO", None).define("CLR_DIST_GLOO", None);
        }
        None => println!("cargo:warning=clr: gloo headers not found (apt-get install libgloo-dev): built without Gloo"),
    }
    // The CUDA allocator's peak (csrc/cuda_memory.cpp), with CUDA's headers when they are here.
    let mut memory = shim("csrc/cuda_memory.cpp");
    match nccl_includes(&root) {
        Some(dirs) => {
            system_includes(&mut memory, dirs.clone());
            memory.define("CLR_CUDA", None);
            system_includes(&mut dist, dirs);
            dist.define("USE_C10D_NCCL", None).define("CLR_DIST_NCCL", None);
            println!("cargo:rustc-link-lib=dylib=torch_cuda");
            println!("cargo:rustc-link-lib=dylib=c10_cuda");
        }
        None => println!(
            "cargo:warning=clr: CUDA/NCCL headers not found (scripts/setup.sh installs them): built without NCCL"
        ),
    }
    dist.compile("clr_dist");
    memory.compile("clr_cuda_memory");
    // The shim's own references into libtorch (c10d lives in libtorch_cpu, c10::Error in c10).
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// Add `dirs` to the header search path as system folders (`-isystem`): warnings inside the
/// headers of libtorch, CUDA or gloo are theirs, not the shims'. The compiler's own folders are
/// searched already (naming one again reorders them and breaks libstdc++'s `#include_next`).
fn system_includes(build: &mut cc::Build, dirs: impl IntoIterator<Item = PathBuf>) {
    for dir in dirs {
        if dir != Path::new("/usr/include") && dir != Path::new("/usr/local/include") {
            build.flag("-isystem").flag(dir.display().to_string());
        }
    }
}

/// The folder holding `gloo/` (Debian's libgloo-dev; the torch wheel does not ship gloo's headers).
/// Only headers that were found are watched: cargo reruns a build script on every build while a
/// watched path is missing, so installing them later needs a rebuild (the run-time error says so).
fn gloo_include() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=CLR_GLOO_INCLUDE");
    let dirs = std::env::var_os("CLR_GLOO_INCLUDE")
        .map(|d| vec![PathBuf::from(d)])
        .unwrap_or_else(|| vec!["/usr/include".into(), "/usr/local/include".into()]);
    let found = dirs.into_iter().find(|d| d.join("gloo/config.h").is_file())?;
    println!("cargo:rerun-if-changed={}", found.join("gloo/config.h").display());
    Some(found)
}

/// The folders that ProcessGroupNCCL.hpp needs, all beside the torch wheel in site-packages:
/// CUDA's and NCCL's headers from the wheel's own dependencies, plus `crt/host_config.h`
/// (nvidia-cuda-crt) and `nv/target` (nvidia-cuda-cccl). None for a CPU-only libtorch.
fn nccl_includes(torch: &Path) -> Option<Vec<PathBuf>> {
    // .libtorch is a link: its parent is the repository, not site-packages.
    let torch = torch.canonicalize().ok()?;
    let nvidia = torch.parent()?.join("nvidia");
    let (cuda, nccl) = (nvidia.join("cu13/include"), nvidia.join("nccl/include"));
    let needed = [
        torch.join("lib/libtorch_cuda.so"),
        cuda.join("cuda_runtime_api.h"),
        cuda.join("crt/host_config.h"),
        cuda.join("cccl/nv/target"),
        nccl.join("nccl.h"),
    ];
    if !needed.iter().all(|file| file.exists()) {
        return None;
    }
    for file in &needed {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Some(vec![cuda.join("cccl"), cuda, nccl])
}
