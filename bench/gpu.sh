#!/usr/bin/env bash
# Steps per second of DDPM at 32x32 and of a GPU-sized transformer in fp32, bf16 and bf16 with
# torch.compile, with the transformer's MFU (bench/gpu.py has the sizes and the FLOPs formula).
#
#   bench/gpu.sh [--peak-tflops TFLOPS] [--steps N]   on a CUDA machine
#   bench/gpu.sh --dry                                tiny sizes on the CPU, to check the script
#
# PYTHON selects the interpreter (default: .venv/bin/python if present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" bench/gpu.py "$@"
