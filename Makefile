# Set-up and the two commands a new user types (README): `make demo` and `make test`.
# torch is pinned here, not in pyproject.toml: this machine kind has a CPU wheel of 2.13.0 on
# disk, while an open range would pull several GB of CUDA wheels. Clusters install their own.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.telepathy-installed

.PHONY: install models tex test demo lint clean-demo

install: $(STAMP)

# Editable install in compat mode (a plain path in a .pth file): Snakemake discovers executor
# plugins by listing packages on sys.path, and would not see snakemake_executor_plugin_submitit
# behind setuptools' default import-hook editable install.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	touch $@

# Converts the small pair's GGUF files into a safetensors cache once ($TELEPATHY_CACHE,
# default ~/.cache/telepathy); later runs find it and return at once.
models: install
	$(BIN)/telepathy prepare-models --pair tiny --manifest results/models/tiny.json
	$(BIN)/telepathy prepare-models --pair small --manifest results/models/small.json

# A minimal TeX from Debian: the tests compile every generated table with pdflatex. Installed
# when missing and this is root on Debian; elsewhere the LaTeX tests skip and say why.
tex:
	@command -v pdflatex >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends texlive-latex-base texlive-latex-recommended >/dev/null; \
	  else \
	    echo "pdflatex missing: install texlive-latex-base texlive-latex-recommended"; \
	  fi; }

test: models tex
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The main job on the embedded default: the whole workflow with the small real pair on the
# offline sentiment task (bridges, ablation points, every baseline, the latency benchmark),
# CPU, local executor, no network.
# `python -m telepathy` in the rules must find this venv's Python, hence PATH.
demo: models
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake all_paper_tables \
		--profile workflow/profiles/local --configfile workflow/configs/embedded.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake all_paper_tables \
		--configfile workflow/configs/embedded.yaml --report results/corrected/report.html
	@cat results/corrected/tables/table1_main.txt
	@echo "tables: results/corrected/tables/ (.tex .txt .html), figures: results/corrected/figures/"
	@echo "merged runs: results/corrected/runs.csv; report: results/corrected/report.html"

clean-demo:
	rm -rf results/corrected logs benchmarks
