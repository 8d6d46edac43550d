#!/usr/bin/env bash
# Idempotent set-up: libtorch (from torch==2.11.0 on PyPI, in a cached virtual environment),
# the .libtorch link that .cargo/config.toml points the build at, and a release build of clr.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
# numpy: the PyTorch peer (benchmarks) and the fixture script use it. tensorboard: the tests read
# clr's event files back with it (tests/common/tensorboard.rs), and it serves them to a person.
# One venv per machine, shared by every clone (CI clones afresh): 4.6 GB is not fetched twice.
VENV="${CLR_VENV:-$HOME/.cache/clr/torch-$TORCH_VERSION}"

have_torch() {
    "$VENV/bin/python" -c "import numpy, tensorboard, torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null
}

if ! have_torch; then
    echo "setup: installing torch==$TORCH_VERSION, numpy and tensorboard into $VENV (about 2 minutes, 4.6 GB)" >&2
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" numpy tensorboard
    have_torch || { echo "setup: torch $TORCH_VERSION, numpy or tensorboard did not install into $VENV" >&2; exit 1; }
fi

TORCH_DIR="$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
if [ "$(readlink .libtorch 2>/dev/null || true)" != "$TORCH_DIR" ]; then
    ln -sfn "$TORCH_DIR" .libtorch
fi
# A link for scripts that want the same python (fixture generation, the PyTorch peer).
ln -sfn "$VENV" .venv

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
echo "setup: building clr (the first build compiles libtorch's C++ wrapper: about 5 minutes)" >&2
cargo build --release --quiet
echo "setup: ready: target/release/clr" >&2
