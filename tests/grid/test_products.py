"""telepathy.grid.products and paths: the one list of products, which of them a grid has, the
files each reads, and `allow_missing` (build from what exists, run nothing)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from telepathy.grid import (
    CATALOGUE,
    Product,
    all_results,
    expand_grid,
    product_inputs,
    product_paths,
    products,
)

REPO = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((REPO / "config.yaml").read_text())
TINY = yaml.safe_load((REPO / "tests" / "workflow" / "config.yaml").read_text())


def _grid(config=PAPER):
    return expand_grid(copy.deepcopy(config))


def _by_name(grid):
    return {p.name: p for p in products(grid)}


def test_the_catalogue_names_every_product_a_grid_can_have_and_only_those():
    names = _by_name(_grid())
    assert {name: p.kind for name, p in names.items()} == CATALOGUE
    with pytest.raises(ValueError, match="not a figure"):
        Product("table1_main", "figure")


def test_a_product_reads_the_merged_tables_of_its_datasets_and_what_else_it_needs():
    grid = _grid()
    names = _by_name(grid)
    assert product_inputs(names["table5_soft_tokens"], grid, "dec2025", False) == {
        "runs": ["results/dec2025/runs/sst2.csv"]
    }
    latency = product_inputs(names["table4_latency"], grid, "dec2025", False)
    assert set(latency) == {"latency"} and len(latency["latency"]) == 2
    inspect = product_inputs(names["attention_maps"], grid, "dec2025", False)["inspect"]
    assert inspect == [
        "results/dec2025/inspect/paper/agnews/perceiver/k8/l31/seed42/soft_tokens.npz"
    ]


def test_gpu_usage_is_read_only_when_it_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = _grid()
    cost = _by_name(grid)["training_cost"]
    assert "gpu_usage" not in product_inputs(cost, grid, "dec2025", False)
    (tmp_path / "results" / "dec2025").mkdir(parents=True)
    (tmp_path / "results" / "dec2025" / "gpu_usage.json").write_text("{}")
    inputs = product_inputs(cost, grid, "dec2025", False)
    assert inputs["gpu_usage"] == ["results/dec2025/gpu_usage.json"]


def test_allow_missing_builds_only_what_the_existing_results_allow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = _grid(TINY)
    protocol = grid.protocol
    everything = product_paths(grid, protocol, "figure", allow_missing=False)
    assert f"results/{protocol}/figures/attention_maps.png" in everything
    assert all_results(grid, protocol, allow_missing=True) == []
    # no inspected bridge trained: no figure that looks inside one
    figures = product_paths(grid, protocol, "figure", allow_missing=True)
    assert not any("attention_maps" in p or "soft_token_projection" in p for p in figures)
    assert len(product_paths(grid, protocol, "table", allow_missing=True)) == len(
        product_paths(grid, protocol, "table", allow_missing=False)
    )
    train_json = all_results(grid, protocol, allow_missing=False)[0]
    Path(train_json).parent.mkdir(parents=True)
    Path(train_json).write_text("{}")
    assert all_results(grid, protocol, allow_missing=True) == [train_json]
