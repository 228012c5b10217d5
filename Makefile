# One entry point. `make serve` runs the app locally; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DATA_DIR ?= ../shared/datasets/mnist
export DATA_DIR
HOST ?= 127.0.0.1
SHIPPED_MODEL := layers/model/model
PORT ?= 8000
# sam needs the runtime's Python (python3.12) on PATH: the venv provides it.
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: help venv serve test test-fast lint train train-tiny build start-api bench system-deps clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'
	@echo "variables: PORT=$(PORT) HOST=$(HOST) (serve), MODEL_DIR=<a model directory> (serve \
	another model, e.g. build/tiny-model), DATA_DIR=$(DATA_DIR) (train, bench, test), \
	RESTART=1 (train: start again, not from an interrupted run's checkpoint), CONTAINER=1 (build in Docker), \
	STANDIN=1 (start-api offline), STANDIN_IMAGE=$(STANDIN_IMAGE) (its tag), VENV=$(VENV)"

$(VENV)/.stamp: requirements-dev.txt layers/deps/requirements.txt tools/find-python.sh
	@test -x $(PY) || "$$(tools/find-python.sh)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@# Make the project's packages importable (the layer's digitnet, training, tools).
	@printf '%s\n' "$(CURDIR)" "$(CURDIR)/layers/model/python" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/digits-project.pth"
	touch $@

venv: $(VENV)/.stamp  ## create the virtual environment

serve: venv  ## set up and run the site and the API on one local port
	$(PY) -m tools.serve --host $(HOST) --port $(PORT)

system-deps:  ## install the Debian packages the tests use (chromium, nodejs, docker.io, fonts, binutils), when root
	bash tools/system-deps.sh

test: venv system-deps  ## set up and run every test
	$(BIN)/ruff check .
	$(PY) -m pytest

test-fast: venv  ## the quick tests only (no builds, browser or docker)
	$(PY) -m pytest -m "not slow"

lint: venv  ## ruff, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(BIN)/sam validate --lint

train: venv  ## train the default model on the full MNIST set and ship it in layers/model/model/ (after an interrupt it goes on from there)
	$(PY) -m training train --data-dir $(DATA_DIR) --out $(SHIPPED_MODEL) --overwrite \
	$(if $(filter 1,$(RESTART)),--restart,$(if $(wildcard $(SHIPPED_MODEL)/.checkpoint/checkpoint.json),--resume))

train-tiny: venv  ## a seconds-long training run on a subset, to check the pipeline (always from the start)
	$(PY) -m training train --data-dir $(DATA_DIR) --arch cnn --tiny --out build/tiny-model --overwrite --restart

build: venv  ## sam build, then trim and precompile the function and its layers (CONTAINER=1: build in Docker)
	@command -v python3.12 >/dev/null || test -n "$(CONTAINER)" || { echo "make build: sam build needs \
	the Lambda runtime's python3.12 on PATH; install it, or build in Docker: make build CONTAINER=1 (README: arm64 on an x86_64 machine)" >&2; exit 1; }
	$(BIN)/sam build $(if $(CONTAINER),--use-container)
	$(PY) -m tools.post_build

STANDIN_IMAGE ?= digits-lambda:python3.12-standin
start-api: venv  ## the function in Docker behind `sam local start-api` on :3000 (STANDIN=1: offline image)
	@docker info >/dev/null 2>&1 || { echo "make start-api: no Docker daemon answers (docker info): \
	start one (sudo dockerd &) or point DOCKER_HOST at one" >&2; exit 1; }
	$(BIN)/sam build --config-env local
	$(PY) -m tools.post_build .aws-sam/build-local
ifdef STANDIN
	$(PY) -m tools.standin_image --tag $(STANDIN_IMAGE) --scan .aws-sam/build-local
	$(BIN)/sam local start-api --config-env local --invoke-image $(STANDIN_IMAGE) --skip-pull-image
else
	$(BIN)/sam local start-api --config-env local
endif

bench: venv  ## print the benchmark table (and write build/bench.json)
	$(PY) -m tools.bench --data-dir $(DATA_DIR)

clean:  ## remove build outputs (keeps the venv)
	rm -rf .aws-sam build .pytest_cache
