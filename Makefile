# Two commands for a bare machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export RISKALLOC_DB ?= $(CURDIR)/warehouse/riskalloc.duckdb

.PHONY: install run test lint dev backtest-grid select-allocator evaluate-allocator benchmarks clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned, so pip does not pull a multi-GB CUDA build on CPU machines
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[pipelines,dev]"
	touch $@

install: $(VENV)/.installed

WEIGHTS_RANGE ?= 2017-01-03...2022-12-30

run: install  ## materialise the whole asset graph on the bundled data
	mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/dagster job execute -m pipelines.definitions -j main_job
	# target weights for every trading day out of sample, as one single-run backfill
	$(VENV)/bin/dagster asset materialize -m pipelines.definitions \
		--select target_weights --partition-range $(WEIGHTS_RANGE)

GRID_JOBS ?= 2

backtest-grid: install  ## the robustness grid (after make run): a backfill of backtest_grid's cells, then its summary
	mkdir -p $(DAGSTER_HOME)
	$(PY) scripts/backtest_grid.py --max-concurrent $(GRID_JOBS)

select-allocator: install  ## allocator model selection on the 2009-2016 folds (~30 min, 2 cores)
	$(PY) scripts/select_allocator.py

evaluate-allocator: install  ## the out-of-sample run of the committed design + sub-universe checks
	$(PY) scripts/evaluate_allocator.py

benchmarks: install  ## performance benchmarks (print tables, write benchmarks/results/*.json)
	$(PY) benchmarks/allocator.py
	$(PY) benchmarks/forecaster.py
	$(PY) benchmarks/pipeline.py

test: install  ## the test suite (offline)
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check riskalloc pipelines tests benchmarks scripts
	$(VENV)/bin/ruff format --check riskalloc pipelines tests benchmarks scripts

dev: install  ## the Dagster UI on http://127.0.0.1:3000
	mkdir -p $(DAGSTER_HOME)
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) .dagster_home warehouse/riskalloc.duckdb* warehouse/parquet warehouse/models
