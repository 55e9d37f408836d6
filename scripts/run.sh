#!/usr/bin/env bash
# Set up .venv if needed and run the whole reproduction (weasel run all) on the embedded
# offline default. Extra arguments go to weasel, e.g. --vars.eval_args "--limit 50".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/weasel run all . "$@"
