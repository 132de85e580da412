# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON_VERSION := $(shell cat .python-version)
PY ?= $(shell command -v python$(basename $(PYTHON_VERSION)) 2>/dev/null || echo $(HOME)/.pyenv/versions/$(PYTHON_VERSION)/bin/python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench studio clean

$(STAMP): pyproject.toml
	@test -x "$(PY)" || { echo "Python $(PYTHON_VERSION) not found (pyenv install $(PYTHON_VERSION))"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]' > $(VENV)/pip.log 2>&1 || { grep -v "is ignored" $(VENV)/pip.log; exit 1; }
	$(BIN)/python -c "import cli, runtime, backtest, graph, agents, execution, tools, sextant, dashboard.app, pandas_ta"
	touch $(STAMP)

demo: $(STAMP)  ## one cycle on the bundled data: no keys, no network
	$(BIN)/sextant run --once

test: $(STAMP)  ## the whole test suite plus lint
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/collector.py
	$(BIN)/python benchmarks/math_engine.py
	$(BIN)/python benchmarks/backtest.py

studio: $(STAMP)  ## LangGraph Studio (local, offline)
	LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=true $(BIN)/langgraph dev --no-browser --port 2124

clean:
	rm -rf $(VENV) state
