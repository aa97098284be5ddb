# signfed — the two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   ?= data
OUT    ?= runs/demo
# docker compose v2 when installed, else v1's docker-compose (Debian's package).
COMPOSE ?= $(shell docker compose version > /dev/null 2>&1 && echo "docker compose" || echo docker-compose)

.PHONY: setup run test test-unit test-integration test-docker lint proto data data-mnist \
	data-fashion results-mnist results-fashion results-fashion-cosine results-zeros \
	results-robustness results-async results-split results-many results-wan bench images wheelhouse up down \
	clean certs

# The venv is rebuilt whenever the dependency pins change. torch is pinned exactly
# (constraints.txt): a looser range can pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev,experiments,ray]'
	touch $@

setup: $(VENV)/.installed

proto: setup
	$(PY) -m common.proto_gen

data: data-mnist

data-mnist: setup
	$(PY) -m common.fetch --dataset mnist --data-dir $(DATA)

data-fashion: setup
	$(PY) -m common.fetch --dataset fashion-mnist --data-dir $(DATA)

# A private CA, a server pair and a client pair for TLS / mutual TLS, into certs/
# (never overwritten). CERT_NAMES="host-a 10.0.0.5" adds the server's names.
certs:
	sh docker/certs.sh certs $(CERT_NAMES)

# The main job: a local cluster of 15 client processes training the paper's Net on
# MNIST in batch mode 4 (fourteen clients at batch 4, one at 904) with IT-signSGD.
# --overwrite: each `make run` replaces the previous demo run in $(OUT).
run: setup data-mnist
	$(VENV)/bin/signfed local --clients 15 --batch-mode 4 --algorithm llr --dataset mnist \
		--rounds 300 --eval-every 50 --lr-schedule cosine --data-dir $(DATA) --out $(OUT) \
		--overwrite

test: setup lint data-mnist
	@docker info > /dev/null 2>&1 || echo "*** No Docker engine answers: the container tests" \
		"(tests/docker) will be SKIPPED. bash .ci/run starts an engine and runs them. ***"
	$(PY) -m pytest -q --durations=15 tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

# Container tests alone; they fail (not skip) here when no engine answers.
test-docker: setup
	SIGNFED_REQUIRE_DOCKER=1 $(PY) -m pytest -q -rA tests/docker

lint: setup
	$(VENV)/bin/ruff check common server client signfed tests benchmarks
	$(VENV)/bin/ruff format --check common server client signfed tests benchmarks
	$(VENV)/bin/mypy common server client signfed

# The committed paper reproductions (docs/results/): hours on a 2-core CPU. Each run's
# metrics (gzipped, metrics.jsonl.gz: the report reads it) and summary are committed
# under <out>/runs/<run>/: the same command skips finished runs and resumes an
# interrupted one from its (uncommitted) checkpoint.
GZIP_METRICS = find $(1) -name metrics.jsonl -exec gzip -9nf {} +
results-mnist: setup data-mnist
	$(VENV)/bin/signfed experiment batch-modes --dataset mnist --rounds 1000 --seeds 2 \
		--out docs/results/batch-modes-mnist --runs-dir docs/results/batch-modes-mnist/runs \
		--data-dir $(DATA)
	$(call GZIP_METRICS,docs/results/batch-modes-mnist/runs)

results-fashion: setup data-fashion
	$(VENV)/bin/signfed experiment batch-modes --dataset fashion-mnist --modes 1,4 --rounds 1000 \
		--seeds 2 --out docs/results/batch-modes-fashion-mnist \
		--runs-dir docs/results/batch-modes-fashion-mnist/runs --data-dir $(DATA)
	$(call GZIP_METRICS,docs/results/batch-modes-fashion-mnist/runs)

# The extra experiment of issue 4: Fashion-MNIST mode 4 under a cosine-decayed lr (at the
# paper's constant lr llr decodes better there, yet ends below mv).
results-fashion-cosine: setup data-fashion
	$(VENV)/bin/signfed experiment batch-modes --dataset fashion-mnist --modes 4 \
		--algorithms llr,mv --lr-schedule cosine --rounds 1000 --seeds 2 \
		--out docs/results/fashion-mnist-mode4-cosine \
		--runs-dir docs/results/fashion-mnist-mode4-cosine/runs --data-dir $(DATA)
	$(call GZIP_METRICS,docs/results/fashion-mnist-mode4-cosine/runs)

# Issue 14: coin vs abstaining zeros, 600 rounds, 3 seeds. Coin seeds 0 and 1 are the
# first 600 rounds of results-mnist / results-fashion (constant lr: the same bits), so
# only seed 2 of coin runs here; then the report reads both.
ZEROS_GRID = $(VENV)/bin/signfed experiment batch-modes --rounds 600 --data-dir $(DATA)
results-zeros: setup data-mnist data-fashion
	for d in mnist fashion-mnist; do \
	  modes=4; [ $$d = mnist ] && modes=4,3,1; \
	  out=docs/results/zeros-$$d; grid="$(ZEROS_GRID) --dataset $$d --modes $$modes \
	    --out $$out --runs-dir $$out/runs"; \
	  $$grid --algorithms llr,mv --zeros abstain --seeds 3 && \
	  $$grid --algorithms llr,mv --zeros coin --first-seed 2 --seeds 1 && \
	  $$grid --algorithms llr --zeros abstain --abstentions skip --seeds 3 || exit 1; \
	  $(call GZIP_METRICS,$$out/runs); \
	done
	$(PY) -m signfed.zeros_report --out docs/results/zeros-mnist \
		docs/results/zeros-mnist/runs docs/results/batch-modes-mnist/runs
	$(PY) -m signfed.zeros_report --out docs/results/zeros-fashion-mnist \
		docs/results/zeros-fashion-mnist/runs docs/results/batch-modes-fashion-mnist/runs

# Byzantine robustness: FedAvg's mean, five robust rules and the sign algorithms (mv,
# llr, fd) under six attacks by 0, 3 and 6 of 15 clients, iid and Dirichlet shards,
# 2 seeds: 468 runs (signfed/robustness.py); resumable like the grids above.
results-robustness: setup data-mnist
	$(VENV)/bin/signfed experiment robustness --dataset mnist --seeds 2 \
		--out docs/results/robustness --runs-dir docs/results/robustness/runs --data-dir $(DATA)
	$(call GZIP_METRICS,docs/results/robustness/runs)

results-async: setup data-mnist
	$(VENV)/bin/signfed experiment async --dataset mnist --seeds 1 \
		--out docs/results/async --runs-dir docs/results/async/runs --data-dir $(DATA)
	$(call GZIP_METRICS,docs/results/async/runs)

# Split learning against FedAvg and sign voting (docs/results/split/): about an hour on
# 2 cores; finished runs are skipped, so it resumes.
results-split: setup data-mnist
	PY=$(PY) bash docs/results/split/run.sh runs/split
	$(PY) -m benchmarks.split_report

# 10,000 virtual clients, FedAvg and llr --pooled, with peak memory (docs/results/many-clients/)
results-many: setup data-mnist
	bash docs/results/many-clients/run.sh

# Time to 97 % over emulated 1/10/100 Mbit/s links (docs/results/time-to-accuracy/): root
results-wan: setup data-mnist
	$(PY) -m benchmarks.time_to_accuracy rounds
	$(PY) -m benchmarks.time_to_accuracy links --rounds 4
	$(PY) -m benchmarks.time_to_accuracy report

bench: setup data-mnist
	$(PY) -m benchmarks.aggregate
	$(PY) -m benchmarks.simulate_round --data-dir $(DATA)
	$(PY) -m benchmarks.fedavg_round --data-dir $(DATA)
	$(PY) -m benchmarks.bytes_table --data-dir $(DATA)
	$(PY) -m benchmarks.load
	$(PY) -m benchmarks.pool_backends --data-dir $(DATA)

# signfed against Flower's simulation (flwr + Ray) on the same FedAvg work, in one run
# (benchmarks/flower_compare.py). Flower gets a venv of its own: its pins (protobuf,
# grpcio, packaging) are not signfed's. BENCH_FLOWER_ARGS="--rounds 5" for a quick look.
FLOWER_VENV := benchmarks/.flower-venv
BENCH_FLOWER_ARGS ?= --rounds 30
$(FLOWER_VENV)/.installed:
	$(PYTHON) -m venv $(FLOWER_VENV)
	$(FLOWER_VENV)/bin/pip install -q 'flwr[simulation]==1.42.0' ray==2.55.1 torch==2.13.0 \
		numpy==2.4.6
	touch $@

.PHONY: bench-flower
bench-flower: setup data-mnist $(FLOWER_VENV)/.installed
	$(PY) -m benchmarks.flower_compare --data-dir $(DATA) $(BENCH_FLOWER_ARGS)

# Compose's settings: .env, made from the committed .env.example when missing (an
# existing .env, which may hold tokens, is never overwritten).
.env:
	cp -n .env.example .env

# The image, through compose (SIGNFED_BASE_IMAGE / SIGNFED_WHEELHOUSE from .env or the
# environment choose the base and an offline wheelhouse).
images: .env
	$(COMPOSE) build server

# Wheels for an air-gapped image build: make wheelhouse, then
# SIGNFED_WHEELHOUSE=.whl make images
wheelhouse:
	sh docker/wheelhouse.sh .whl

# The demo cluster in containers; exits with the server's exit code (the run's result).
up: images
	$(COMPOSE) up
	@code=$$(docker inspect -f '{{.State.ExitCode}}' $$($(COMPOSE) ps -q server)); \
		echo "server exited with $$code"; exit $$code

down: .env
	$(COMPOSE) down --remove-orphans

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
