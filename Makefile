# Two commands do all set-up on a fresh clone:
#   make run   - create .venv, install, fetch models, build the index and intent model, serve
#   make test  - the same set-up, then the test suite
VENV ?= .venv
PYTHON ?= python3
# The pinned CPU build; a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.supportbot-installed

.PHONY: install setup run test bench-intents bench-retrieval bench-generator train-generator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Each step is a no-op when its output is already up to date.
setup: install
	$(BIN)/supportbot models fetch
	$(BIN)/supportbot kb build
	$(BIN)/supportbot train intents

run: setup
	$(BIN)/supportbot serve --host $(HOST) --port $(PORT)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench-intents: install
	$(BIN)/python benchmarks/intents.py

bench-retrieval: install
	nice -n 19 $(BIN)/python benchmarks/retrieval.py

bench-generator: setup
	$(BIN)/python benchmarks/generator.py

# Fine-tune the shipped generator on the demo set (LoRA, merged; three epochs on the 600
# examples took 12.1 min on 2 cores, budget up to 20 on a slow day); serving picks the
# merged model up.
train-generator: setup
	$(BIN)/supportbot train generator-data
	$(BIN)/supportbot train generator --data var/generator/train.jsonl --merge --epochs 3

clean:
	rm -rf var .pytest_cache
