#!/usr/bin/env bash
# Create .venv (if missing) and install humelabel with its test tools into it.
# torch: if the venv has none, install the pinned CPU-friendly wheel torch==2.13.0 (override
# with TORCH_SPEC, e.g. TORCH_SPEC="torch>=2.1" on a CUDA machine); an existing torch is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".[dev]"
