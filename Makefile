# Set-up and the two commands a new user types (README): `make demo` and `make test`.
# torch is pinned here, not in pyproject.toml: this machine kind has a CPU wheel of 2.13.0 on
# disk, while an open range would pull several GB of CUDA wheels. Clusters install their own.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.telepathy-installed
DEMO := results/demo

.PHONY: install models test demo lint clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Converts the small pair's GGUF files into a safetensors cache once ($TELEPATHY_CACHE,
# default ~/.cache/telepathy); later runs find it and return at once.
models: install
	$(BIN)/telepathy prepare-models --pair tiny --manifest results/models/tiny.json
	$(BIN)/telepathy prepare-models --pair small --manifest results/models/small.json

test: models
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The main job on the embedded default: the small real pair on the offline sentiment task,
# trained on CPU and evaluated on 200 held-out items; see README for what the settings mean.
demo: models
	$(BIN)/telepathy train --protocol corrected --pair small --dataset synth_sentiment \
		--seed 42 --set steps=150 --set batch_size=8 --set grad_accum=1 --set lr=1e-3 \
		--set "sender_template={text}" \
		--set eval_every=50 --bridge $(DEMO)/bridge.pt --checkpoint $(DEMO)/ckpt/state.pt \
		--metrics $(DEMO)/metrics.jsonl --result $(DEMO)/train.json
	$(BIN)/telepathy eval --bridge $(DEMO)/bridge.pt --result $(DEMO)/eval.json
	$(BIN)/telepathy validate-results $(DEMO)/train.json $(DEMO)/eval.json

clean-demo:
	rm -rf $(DEMO)
