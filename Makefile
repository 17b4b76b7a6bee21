# Two entry points for a fresh machine: `make run` and `make test`.
# Each creates .venv when it is missing and installs the package into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# A real search on a local Ray instance: recover the AI Feynman equation I.6.2a,
# f = exp(-theta**2/2)/sqrt(2*pi), from 100 sampled points with the ops a
# physicist would allow for a Gaussian, then print the leaderboard and verify it.
RUN_DIR := runs/quickstart-$(shell date -u +%Y%m%dT%H%M%SZ)
run: install
	$(BIN)/evolve run symbolic-regression --set equation=I.6.2a \
		--set ops=const,add,sub,mul,div,neg,square,exp --set points=100 --set fit_iterations=15 \
		--seed 5 --budget 20000 --out $(RUN_DIR)
	$(BIN)/evolve verify $(RUN_DIR) --top 1

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/eval_throughput.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
