# ScaiEcho: the two commands are `make run` and `make test`; each sets everything up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
MODEL_DIR ?= .models/default
export PYANNOTE_METRICS_ENABLED := false
export HF_HUB_OFFLINE := 1

.PHONY: setup model-dir run test test-fast lint validate bench bench-load build model-package clean

setup:
	@bash .ci/setup.sh

model-dir: setup
	@$(PY) -m scaiecho_node.modeldir build --out $(MODEL_DIR)

run: model-dir  ## the embedded local stack on 127.0.0.1 (REST + WebSocket, moto, 2 pyannote nodes)
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(VENV)/bin/scaiecho serve

test: model-dir  ## the whole suite: unit, integration (moto), node (real pyannote), e2e (local stack)
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m pytest -q

test-fast: setup  ## everything but the model and e2e tests
	@$(PY) -m pytest -q -m "not model and not e2e"

lint: setup
	@$(VENV)/bin/ruff check layers functions tests
	@$(VENV)/bin/mypy layers/core/scaiecho layers/node/scaiecho_node

validate: setup  ## offline validation of template.yaml and the ASL files
	@bash .ci/validate.sh

bench: model-dir  ## benchmarks: engine (DER of 3 paths, RTF, identification, RSS) + stack (enroll/erasure/stream delta latency, job DER) + consent checks (false reject/accept) + live-utterance ASR window (WER, speed); .bench/latest.json
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m scaiecho_node.bench --rss-60min --out .bench/latest.json
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m scaiecho.local.bench --out .bench/latest.json
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m scaiecho_node.calibrate_consent --readers 0 --out .bench/latest.json
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m scaiecho_node.asr_window --out .bench/latest.json

bench-load: model-dir  ## load: N concurrent real-time streams, M concurrent enrollments, both at once (loopback, bounded), API cost per stream frame; .bench/latest.json
	@SCAIECHO_MODEL_DIR=$(abspath $(MODEL_DIR)) $(PY) -m scaiecho.local.bench_load --out .bench/latest.json $(LOAD_ARGS)
	@$(PY) -m scaiecho.local.bench_frames --out .bench/latest.json

build: setup  ## sam build (in its own venv)
	@bash .ci/validate.sh build

model-package: model-dir  ## the SageMaker model.tar.gz for the pyannote node
	@$(PY) -m scaiecho_node.package --model-dir $(MODEL_DIR) --out build/model.tar.gz $(if $(ASR_MODEL),--asr-model $(ASR_MODEL))

clean:
	rm -rf .bench build .aws-sam .pytest_cache .mypy_cache .ruff_cache
