# signfed — the two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   ?= data
OUT    ?= runs/demo

.PHONY: setup run test test-unit test-integration lint proto data data-mnist data-fashion bench clean

# The venv is rebuilt whenever the dependency pins change. torch is pinned exactly
# (constraints.txt): a looser range can pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

proto: setup
	$(PY) -m common.proto_gen

data: data-mnist

data-mnist: setup
	$(PY) -m common.fetch --dataset mnist --data-dir $(DATA)

data-fashion: setup
	$(PY) -m common.fetch --dataset fashion-mnist --data-dir $(DATA)

# The main job: a local cluster of 15 client processes training the paper's Net on
# MNIST in batch mode 4 (fourteen clients at batch 4, one at 904) with IT-signSGD.
run: setup data-mnist
	$(VENV)/bin/signfed local --clients 15 --batch-mode 4 --algorithm llr --dataset mnist \
		--rounds 300 --eval-every 50 --data-dir $(DATA) --out $(OUT)

test: setup lint data-mnist
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

lint: setup
	$(VENV)/bin/ruff check common server client signfed tests benchmarks
	$(VENV)/bin/ruff format --check common server client signfed tests benchmarks
	$(VENV)/bin/mypy common server client signfed

bench: setup
	$(PY) -m benchmarks.aggregate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
