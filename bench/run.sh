#!/usr/bin/env bash
# Run the CPU benchmarks and print the Markdown rows of docs/benchmarks.md.
#
#   bench/run.sh [--quick] [--data FILE]
#
# --quick   short settings and rough figures, for a check: 2 min 34 s on an idle 2-core machine
# --clock   wall (default) or cpu: the clock of the overhead benchmark; cpu counts the process's
#           CPU time, steadier on a busy machine when OMP_NUM_THREADS=1
# --data    text file for the nanoGPT comparison (default ../shared/data/tinyshakespeare.txt,
#           relative to the repository root); that benchmark is skipped when it is missing
#
# PYTHON selects genopt's interpreter (default: .venv/bin/python if present, else python3).
# The Lightning benchmark runs in bench/.venv, which this script creates on first use: a venv
# that imports PYTHON's packages through a .pth file and adds bench/requirements.txt, so Lightning
# never enters genopt's own environment.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=()
CLOCK=wall
DATA=../shared/data/tinyshakespeare.txt
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=(--quick); shift ;;
        --clock) CLOCK="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        *) echo "error: unknown argument $1; use --quick, --clock wall|cpu or --data FILE" >&2; exit 2 ;;
    esac
done

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

lightning_python() {
    if [[ ! -x bench/.venv/bin/python ]]; then
        "$PYTHON" -m venv bench/.venv
        local shared own
        shared=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        own=$(bench/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo "$shared" > "$own/genopt_shared.pth"
    fi
    if ! bench/.venv/bin/python -c "import lightning" 2>/dev/null; then
        bench/.venv/bin/python -m pip install --quiet -r bench/requirements.txt >&2
    fi
    echo bench/.venv/bin/python
}

FAILED=()
# Run one benchmark; record its name when it fails, so the others still run.
run_step() {
    local name="$1"
    shift
    if ! "$@"; then
        echo "failed: $name (its error is on standard error)"
        FAILED+=("$name")
    fi
}

section() {
    echo
    echo "## $1"
    echo
    echo "    $2"
    echo
}

started=$(date +%s)
echo "# bench/run.sh ${QUICK[*]}: $(date '+%Y-%m-%d %H:%M'), uptime:$(uptime)"

section "Harness overhead" "python bench/overhead.py --clock $CLOCK ${QUICK[*]}"
run_step overhead "$PYTHON" bench/overhead.py --clock "$CLOCK" "${QUICK[@]}"

section "Against PyTorch Lightning" "bench/.venv/bin/python bench/lightning_step.py ${QUICK[*]}"
if LIGHTNING=$(lightning_python); then
    run_step lightning "$LIGHTNING" bench/lightning_step.py "${QUICK[@]}"
else
    echo "skipped: could not install bench/requirements.txt into bench/.venv"
fi

section "Start-up" "python bench/startup.py ${QUICK[*]}"
run_step startup "$PYTHON" bench/startup.py "${QUICK[@]}"

section "Memory" "python bench/memory.py ${QUICK[*]}"
run_step memory "$PYTHON" bench/memory.py "${QUICK[@]}"

section "Against nanoGPT's small CPU configuration" \
    "python bench/shakespeare.py --data $DATA ${QUICK[*]}"
if [[ -f "$DATA" ]]; then
    run_step shakespeare "$PYTHON" bench/shakespeare.py --data "$DATA" "${QUICK[@]}"
else
    echo "skipped: $DATA not found; pass --data FILE"
fi

section "GPU script, dry run on the CPU" "bench/gpu.sh --dry"
run_step gpu env PYTHON="$PYTHON" bench/gpu.sh --dry

echo
echo "done in $(( $(date +%s) - started )) s; uptime:$(uptime)"
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "error: these benchmarks failed: ${FAILED[*]}" >&2
    exit 1
fi
