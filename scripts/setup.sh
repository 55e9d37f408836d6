#!/usr/bin/env bash
# Create .venv with the package and its test dependencies (CPU torch pinned first).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# A bare torch requirement can pull a multi-GB CUDA build: install the CPU wheel first.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
