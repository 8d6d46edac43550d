#!/usr/bin/env bash
# Idempotent set-up: libtorch (from torch==2.11.0 on PyPI, in a cached virtual environment),
# the headers that clr's c10d shim needs (gloo's from Debian, two CUDA header packages from
# PyPI for NCCL), the .libtorch link that .cargo/config.toml points the build at, and a release
# build of clr.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
# ProcessGroupNCCL.hpp needs crt/host_config.h and nv/target, which the torch wheel's own CUDA
# dependencies lack; these match its CUDA 13.0.
CUDA_HEADERS=("nvidia-cuda-crt==13.0.*" "nvidia-cuda-cccl==13.0.*")
# numpy: the PyTorch peer (benchmarks) and the fixture script use it. tensorboard: the tests read
# clr's event files back with it (tests/common/tensorboard.rs), and it serves them to a person.
# safetensors: scripts/check_export.py loads clr's exports with it (tests/models_cli.rs).
# One venv per machine, shared by every clone (CI clones afresh): 4.6 GB is not fetched twice.
VENV="${CLR_VENV:-$HOME/.cache/clr/torch-$TORCH_VERSION}"

# torch, numpy, tensorboard, safetensors and the CUDA header packages, at the versions above.
have_torch() {
    "$VENV/bin/python" -c "
import sys, importlib.metadata as m, numpy, safetensors, tensorboard, torch
ok = torch.__version__.startswith('$TORCH_VERSION')
ok = ok and all(m.version(p).startswith('13.0.') for p in ('nvidia-cuda-crt', 'nvidia-cuda-cccl'))
sys.exit(0 if ok else 1)" 2>/dev/null
}

# Set when headers arrive: build.rs only watches headers it found, so the shim must be rebuilt.
NEW_HEADERS=0

if ! have_torch; then
    echo "setup: installing torch==$TORCH_VERSION, numpy, tensorboard, safetensors and CUDA headers into $VENV (the first time: about 2 minutes, 4.6 GB)" >&2
    mkdir -p "$(dirname "$VENV")"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" numpy tensorboard safetensors "${CUDA_HEADERS[@]}"
    have_torch || { echo "setup: torch $TORCH_VERSION or its companions did not install into $VENV" >&2; exit 1; }
    NEW_HEADERS=1
fi

# Gloo's headers (the torch wheel has c10d's but not gloo's); without them clr builds without
# the Gloo backend.
if [ ! -f /usr/include/gloo/config.h ] && [ ! -f /usr/local/include/gloo/config.h ]; then
    SUDO=()
    [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && SUDO=(sudo -n); }
    if { [ "$(id -u)" = 0 ] || [ ${#SUDO[@]} -gt 0 ]; } && command -v apt-get >/dev/null; then
        echo "setup: installing libgloo-dev (gloo's headers, for clr's Gloo backend)" >&2
        apt() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq "$@" >/dev/null; }
        if apt install -y libgloo-dev || { apt update && apt install -y libgloo-dev; }; then
            NEW_HEADERS=1
        else
            echo "setup: warning: could not install libgloo-dev; clr will build without the Gloo backend" >&2
        fi
    else
        echo "setup: warning: gloo's headers are missing and cannot be installed here (needs root and apt-get:" \
            "apt-get install libgloo-dev); clr will build without the Gloo backend" >&2
    fi
fi

TORCH_DIR="$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if [ "$(readlink .libtorch 2>/dev/null || true)" != "$TORCH_DIR" ]; then
    ln -sfn "$TORCH_DIR" .libtorch
fi
# A link for scripts that want the same python (fixture generation, the PyTorch peer).
ln -sfn "$VENV" .venv

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
[ "$NEW_HEADERS" = 0 ] || touch build.rs
echo "setup: building clr (the first build compiles libtorch's C++ wrapper: about 5 minutes)" >&2
cargo build --release --quiet
echo "setup: ready: target/release/clr" >&2
