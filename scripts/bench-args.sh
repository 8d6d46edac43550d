# Sourced by the CPU benchmark scripts: their arguments DEPTH BATCH IMAGES REPEATS, the peer and
# the venv's python, a check that the set-up ran, STEPS (one peer epoch of batches) and TMP
# (removed on exit).
DEPTH=${1:-20}
BATCH=${2:-128}
IMAGES=${3:-2560}
REPEATS=${4:-3}
PEER=${PEER:-bench/peer/ref_train.py}
PY=.venv/bin/python
[ -x target/release/clr ] && [ -x "$PY" ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
[ -f "$PEER" ] || { echo "peer $PEER not found (set PEER=path/to/ref_train.py)" >&2; exit 1; }
STEPS=$(( (IMAGES + BATCH - 1) / BATCH ))
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
