# Set-up and the two everyday commands. Both are idempotent: the virtual environment in .venv is
# built once and rebuilt only when pyproject.toml changes.
#   make train [ARGS="model=vae ..."]   train on the embedded data (default: DDPM on digits)
#   make test                           run the test suite

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first, pinned, so the range in pyproject.toml is already met and pip adds no other build.
TORCH := torch==2.13.0

.PHONY: train test install

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/genopt train $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q
