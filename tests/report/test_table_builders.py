"""Paper comparison, ablation, latency and cost tables: numbers checked by hand, LaTeX compiled."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from snakemake_executor_plugin_submitit.accounting import parse_sacct, summarise_usage
from telepathy.report.ablation_tables import ablation_tables
from telepathy.report.comparison_table import paper_comparison
from telepathy.report.cost_table import training_cost
from telepathy.report.latency_table import table4_latency, table4b_throughput
from telepathy.report.latex import compile_pdf
from telepathy.report.paper_numbers import (
    CAMERA_READY,
    DEC2025,
    HEADLINE_NUMBERS,
    LATENCY,
    SEEDS_B,
    numbers_for,
)
from telepathy.report.table import Cell, Table, document, to_text, write_table
from telepathy.results.merge import COLUMNS, ExpectedBaseline, ExpectedRun
from telepathy.results.merged_table import load_runs

METHOD_MD = Path("/work/shared/reference/method.md")
Z95 = 1.959963984540054  # Phi^-1(0.975)


# ----------------------------------------------------------------------------- fixtures


def items(tmp: Path, name: str, n: int, n_correct: int) -> str:
    """An eval JSON with per-sample records: items 0..n_correct-1 right, the rest wrong."""
    path = tmp / f"{name.replace('/', '_')}.json"
    samples = [{"id": f"i{i:03d}", "correct": i < n_correct} for i in range(n)]
    path.write_text(json.dumps({"samples": samples}))
    return str(path)


def bridge(tmp, *, dataset="sst2", k=8, layer=16, seed=42, arch="perceiver", studies="main",
           n=200, correct=190, protocol="dec2025", pair="paper", status="complete",
           device="cuda:0 (NVIDIA H100)", train_s=3600.0, eval_s=60.0, loss=0.5,
           params=537_059_329, lenient=None, first_match=None) -> dict:  # fmt: skip
    spec = ExpectedRun(protocol, pair, dataset, arch, k, layer, seed, studies, "t", "e")
    row = dict.fromkeys(COLUMNS)
    row.update(
        run_id=spec.run_id, status=status, protocol=protocol, method="bridge", studies=studies,
        pair=pair, dataset=dataset, architecture=arch, soft_tokens=k, source_layer=layer,
        seed=seed, train_result="t.json",
    )  # fmt: skip
    if status == "complete":
        row.update(
            accuracy=correct / n, n_examples=n, n_correct=correct, final_loss=loss,
            train_wall_s=train_s, eval_wall_s=eval_s, trainable_params=params, device=device,
            eval_result=items(tmp, spec.run_id, n, correct),
        )  # fmt: skip
        row.update(other_rules(n, correct, lenient, first_match))
    return row


def other_rules(n: int, correct: int, lenient: int | None, first_match: int | None) -> dict:
    """The gold-substring and first-match scores of a row (by default the strict count)."""
    lenient = correct if lenient is None else lenient
    first_match = correct if first_match is None else first_match
    return dict(
        accuracy_lenient=lenient / n, n_correct_lenient=lenient,
        accuracy_first_match=first_match / n, n_correct_first_match=first_match,
    )  # fmt: skip


def baseline(tmp, method, dataset, seed=42, *, n=200, correct=176, status="complete",
             device="cuda:0 (NVIDIA H100)", eval_s=1800.0, protocol="dec2025", lenient=None,
             first_match=None) -> dict:  # fmt: skip
    spec = ExpectedBaseline(protocol, method, "paper", dataset, seed, "e")
    row = dict.fromkeys(COLUMNS)
    row.update(
        run_id=spec.run_id, status=status, protocol=protocol, method=method,
        studies="baselines", pair="paper", dataset=dataset, seed=seed,
    )  # fmt: skip
    if status == "complete":
        row.update(
            accuracy=correct / n, n_examples=n, n_correct=correct, eval_wall_s=eval_s,
            device=device, eval_result=items(tmp, spec.run_id, n, correct),
        )  # fmt: skip
        row.update(other_rules(n, correct, lenient, first_match))
    return row


def as_runs(tmp: Path, rows: list[dict]) -> pd.DataFrame:
    """Through a merged-table CSV and load_runs, so dtypes are what the builders will see."""
    path = tmp / "runs.csv"
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False)
    return load_runs([path])


def find(table: Table, *key: str) -> list[str]:
    """The text of the first row whose leading cells are `key`."""
    for row in table.rows:
        texts = [c.text if isinstance(c, Cell) else c for c in row]
        if tuple(texts[: len(key)]) == key:
            return texts
    raise AssertionError(f"no row {key} in {table.name}:\n{to_text(table)}")


def cell_of(table: Table, column: str, *key: str) -> Cell:
    for row in table.rows:
        cells = [c if isinstance(c, Cell) else Cell(c) for c in row]
        if tuple(c.text for c in cells[: len(key)]) == key:
            return cells[list(table.header).index(column)]
    raise AssertionError(f"no row {key} in {table.name}")


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval written out (method.md §7.1), independent of report.stats."""
    p = k / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return centre - half, centre + half


# ----------------------------------------------------------------------------- paper numbers


def test_paper_numbers_spot_checks():
    by = {(n.preset, n.dataset, n.method, n.soft_tokens, n.variant): n for n in HEADLINE_NUMBERS}
    sst2 = by[("dec2025", "sst2", "bridge", 8, "")]  # "SST-2 bridge | **96.7 ± 0.6** (ddof 0)"
    assert (sst2.value, sst2.std, sst2.std_ddof, sst2.source_layer) == (96.7, 0.6, 0, 16)
    assert sst2.per_run == ((42, 96.0), (123, 97.5), (456, 96.5)) and sst2.n_items == 200
    assert by[("dec2025", "banking77", "bridge", 64, "")].value == 7.5  # "64 tok 7.5"
    assert by[("dec2025", "piqa", "bridge", 16, "")].n_items == 500  # "200 (PIQA 500)"
    assert by[("dec2025", "commonsenseqa", "zero_shot_receiver", None, "")].value == 68.0
    trec8 = by[("camera_ready", "trec", "bridge", 8, "")]  # "61.5 ± 23.3", five seeds
    assert trec8.seeds == (42, 456, 457, 458, 459) and trec8.pooled_n == 2500
    assert by[("camera_ready", "agnews", "bridge", 32, "")].n_items == 7600
    assert by[("camera_ready", "trec", "probe", None, "")].value == 95.0
    assert by[("camera_ready", "agnews", "text_relay", None, "")].value == 1.0
    assert {n.preset for n in DEC2025} == {"dec2025"}
    assert numbers_for("camera_ready") == CAMERA_READY
    speedups = {(p.preset, p.method): p.speedup_vs_relay for p in LATENCY}
    assert speedups[("dec2025", "bridge")] == 22.4 and speedups[("camera_ready", "bridge")] == 4.66


def test_per_run_values_give_the_printed_mean_and_std():
    """Transcription check without method.md: printed mean and ± follow from the seeds."""
    import numpy as np

    checked = 0
    for n in HEADLINE_NUMBERS:
        if len(n.per_run) < 2:
            continue
        values = [v for _, v in n.per_run]
        assert abs(np.mean(values) - n.value) <= 0.05 + 1e-9, n.source
        if n.std is not None:
            assert round(float(np.std(values, ddof=n.std_ddof)), 1) == n.std, n.source
        checked += 1
    assert checked == 14  # 13 with a printed ±, plus Era D TREC prompt tuning (15.9)


@pytest.mark.skipif(not METHOD_MD.exists(), reason=f"{METHOD_MD} (the spec) is not on this machine")
def test_every_source_quotes_its_method_md_row():
    text = METHOD_MD.read_text()
    sections = {
        "§10.1": text.split("### 10.1")[1].split("### 10.2")[0],
        "§10.2": text.split("### 10.2")[1].split("## 11")[0],
    }
    for number in (*HEADLINE_NUMBERS, *LATENCY):
        section, rest = number.source.split(" ", 1)
        row, fragment = rest.split(" | ", 1)
        lines = sections[section].splitlines()
        assert any(line.startswith(f"| {row} |") and fragment in line for line in lines), (
            f"{number.source!r} is not on method.md's {section} row {row!r}"
        )
        value = number.value if hasattr(number, "value") else number.total_ms
        assert f"{value:.1f}" in fragment or f"{value:g}" in fragment, number.source


# ----------------------------------------------------------------------------- comparison


@pytest.fixture
def dec_runs(tmp_path) -> pd.DataFrame:
    rows = [
        bridge(tmp_path, seed=42, correct=192),  # SST-2 0.960, 0.955, 0.970: mean 96.17
        bridge(tmp_path, seed=123, correct=191),
        bridge(tmp_path, seed=456, correct=194),
        *(bridge(tmp_path, dataset="agnews", layer=31, seed=s, correct=160) for s in SEEDS_B),
        bridge(tmp_path, dataset="trec", k=16, layer=31, seed=42),
        bridge(tmp_path, dataset="trec", k=16, layer=31, seed=123),
        bridge(tmp_path, dataset="trec", k=16, layer=31, seed=456, status="missing"),
        baseline(tmp_path, "zero_shot_sender", "sst2", correct=176),  # 88.0 %
    ]  # fmt: skip
    return as_runs(tmp_path, rows)


def test_paper_ci_and_within_ci_by_hand(dec_runs):
    table = paper_comparison(dec_runs, "dec2025")
    assert table.name == "paper_comparison_dec2025"
    # SST-2 bridge: 96.7 % of 200 items x 3 seeds = 580.2 -> 580 of 600
    lo, hi = wilson(580, 600)
    row = find(table, "SST-2", "Bridge", "8")
    assert row[4] == "200\u00d73"
    assert row[5] == f"[{100 * lo:.1f}, {100 * hi:.1f}]" == "[94.9, 97.8]"
    assert row[6] == "substring"  # Era B scored its bridges by gold substring
    assert row[7] == "96.2"  # (192 + 191 + 194) / 600
    assert row[8] == "200\u00d73"
    assert row[9] == "-0.5"  # 96.17 - 96.7
    assert row[10] == "yes"
    # AG News: ours 80.0 against 90.7 % of 600 = 544.2 -> 544
    lo, hi = wilson(544, 600)
    assert not lo <= 0.80 <= hi
    row = find(table, "AG News", "Bridge", "8")
    assert (row[7], row[9], row[10]) == ("80.0", "-10.7", "no")
    # zero-shot: one deterministic run; the paper's 88.4 % of 500 first items = 442
    lo, hi = wilson(442, 500)
    row = find(table, "SST-2", "Sender 0-shot", "--")
    assert row[5] == f"[{100 * lo:.1f}, {100 * hi:.1f}]" and row[8] == "200\u00d71"
    assert (row[6], row[7], row[10]) == ("first match", "88.0", "yes")


def test_missing_and_absent_runs_are_named_not_filled(dec_runs):
    table = paper_comparison(dec_runs, "dec2025")
    trec = cell_of(table, "Ours", "TREC", "Bridge", "16")
    assert (trec.text, trec.mark) == ("--", "b")
    missing = next(n for n in table.notes if n.startswith("b:"))
    assert "bridge/dec2025/paper/trec/perceiver/k16/l31/seed456" in missing
    assert "seed42" not in missing
    bank = cell_of(table, "Ours", "Banking77", "Bridge", "16")
    assert (bank.text, bank.mark) == ("--", "a")
    assert any(n.startswith("a: not in this grid") for n in table.notes)
    assert find(table, "Banking77", "Bridge", "16")[9:] == ["--", "--"]


def test_other_protocol_or_pair_shows_no_numbers(tmp_path, dec_runs):
    table = paper_comparison(dec_runs, "camera_ready")
    ours = [row[7] for row in table.rows]
    assert all(isinstance(c, Cell) and (c.text, c.mark) == ("--", "c") for c in ours)
    assert any("the runs are protocol dec2025" in n for n in table.notes)
    small = as_runs(tmp_path, [bridge(tmp_path, pair="small", protocol="camera_ready")])
    table = paper_comparison(small, "camera_ready")
    assert all(row[7].mark == "a" for row in table.rows)
    assert any("pair(s) small" in n for n in table.notes)


def test_ours_are_scored_with_the_rule_behind_each_paper_number(tmp_path):
    """Era D scored by first match, Era B's bridges by gold substring, its zero-shot by first
    match: the same runs then show a different number in each comparison."""
    rows = [
        bridge(tmp_path, protocol="camera_ready", k=32, layer=31, seed=seed, n=872,
               correct=800, lenient=850, first_match=780)
        for seed in (42, 456)
    ]  # fmt: skip
    table = paper_comparison(as_runs(tmp_path, rows), "camera_ready")
    row = find(table, "SST-2", "Bridge", "32")
    assert (row[6], row[7]) == ("first match", f"{100 * 780 / 872:.1f}")  # not 800 or 850
    assert "first match for every method" in table.caption
    dec = [
        bridge(tmp_path, seed=seed, correct=180, lenient=190, first_match=170)
        for seed in (42, 123, 456)
    ] + [baseline(tmp_path, "zero_shot_sender", "sst2", correct=170, lenient=178, first_match=160)]
    table = paper_comparison(as_runs(tmp_path, dec), "dec2025")
    assert find(table, "SST-2", "Bridge", "8")[6:8] == ["substring", "95.0"]
    assert find(table, "SST-2", "Sender 0-shot", "--")[6:8] == ["first match", "80.0"]
    # a result from before the first-match score existed is not a number here
    old = bridge(tmp_path, protocol="camera_ready", k=32, layer=31, seed=42, n=872, correct=800)
    old.update(accuracy_first_match=None, n_correct_first_match=None)
    table = paper_comparison(as_runs(tmp_path, [old]), "camera_ready")
    cell = cell_of(table, "Ours", "SST-2", "Bridge", "32")
    assert (cell.text, cell.mark) == ("--", "b")


def test_probe_is_compared_at_the_papers_layer(tmp_path):
    """Era D's probe hooked block 16 = hidden_states[17]; ours reports the bridge's layer 31."""
    row = baseline(tmp_path, "probe", "trec", protocol="camera_ready", n=500, correct=400)
    path = Path(row["eval_result"])
    record = json.loads(path.read_text())
    record["metrics"] = {"accuracy": 0.8, "accuracy_layer_31": 0.8, "accuracy_layer_17": 0.95}
    path.write_text(json.dumps(record))
    table = paper_comparison(as_runs(tmp_path, [row]), "camera_ready")
    lo, hi = wilson(475, 500)  # the paper's 95.0 % of 500
    probe = find(table, "TREC", "Linear probe", "--")
    assert probe[5] == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert (probe[6], probe[7], probe[9], probe[10]) == (
        "strict",
        "95.0",
        "+0.0",
        "yes",
    )  # layer 17


# ----------------------------------------------------------------------------- ablations


@pytest.fixture
def ablation_runs(tmp_path) -> pd.DataFrame:
    every = "main+soft_tokens+source_layer+architecture"
    rows = [
        # the shared main point and SST-2's K points, two seeds each
        bridge(tmp_path, studies=every, correct=200, loss=0.25),
        bridge(tmp_path, studies=every, seed=123, correct=198, loss=0.25),
        bridge(tmp_path, k=4, studies="soft_tokens", correct=100, loss=0.5, params=537_042_945),
        bridge(tmp_path, k=4, seed=123, studies="soft_tokens", correct=110, loss=0.5,
               params=537_042_945),
        bridge(tmp_path, k=16, studies="soft_tokens", correct=150, loss=0.75),
        bridge(tmp_path, k=16, seed=123, studies="soft_tokens", correct=160, loss=0.75),
        # AG News, one seed: best 100 vs runner-up 95 on the same items (b = 5, c = 0)
        bridge(tmp_path, dataset="agnews", k=4, studies="soft_tokens", correct=90),
        bridge(tmp_path, dataset="agnews", k=8, studies="soft_tokens", correct=100),
        bridge(tmp_path, dataset="agnews", k=16, studies="soft_tokens", correct=95),
        # one seed beside the two-seed main point
        bridge(tmp_path, layer=31, studies="source_layer", correct=150),
        bridge(tmp_path, arch="mlp", studies="architecture", correct=194, params=33_570_816),
    ]  # fmt: skip
    return as_runs(tmp_path, rows)


def block(table: Table, label: str) -> list[list[Cell]]:
    """The rows of the block whose first cell is `label` (the rows after it leave it empty)."""
    start = next(i for i, row in enumerate(table.rows) if row[0] == label)
    rows = []
    for i, row in enumerate(table.rows[start:]):
        if i and row[0] != "":
            break
        rows.append([c if isinstance(c, Cell) else Cell(c) for c in row])
    return rows


def by_setting(table: Table, label: str) -> dict[str, list[Cell]]:
    return {row[1].text: row for row in block(table, label)}


def test_ablation_bold_only_when_significant_and_the_seeds_are_apart(ablation_runs):
    soft, layer, arch = ablation_tables(ablation_runs)
    assert [t.name for t in (soft, layer, arch)] == [
        "table5_soft_tokens",
        "ablation_source_layer",
        "ablation_architecture",
    ]
    assert "compression" not in " ".join(soft.header).lower()
    col = {name: i for i, name in enumerate(soft.header)}
    sst2, agnews = by_setting(soft, "SST-2"), by_setting(soft, "AG News")
    # SST-2: K 8 (200, 198 of 200) vs K 16 (150, 160), paired by seed: b = 50 + 38, c = 0 ->
    # chi2 = 87^2/88 = 86.0, p ~ 2e-20, times 4 comparisons: significant; and every seed of
    # K 8 (99 %, 100 %) beats every seed of K 16 (75 %, 80 %): bold
    assert sst2["8"][col["Acc"]].bold and sst2["8"][col["p vs best"]].text == "best"
    assert sst2["8"][col["Acc"]].text == "99.5"
    assert sst2["16"][col["p vs best"]].text == "<0.001"
    assert sst2["16"][col["Seed spread"]].text == sst2["4"][col["Seed spread"]].text == "apart"
    # AG News: K 8 (100) vs K 16 (95): exact binomial p = 2 * 0.5^5 = 0.0625, x 4 = 0.25
    assert agnews["8"][col["Acc"]].text == "50.0" and not agnews["8"][col["Acc"]].bold
    assert agnews["16"][col["p vs best"]].text == "0.250"
    assert agnews["16"][col["Seed spread"]].text == "1 seed"
    # K 4 vs K 8 on AG News: b = 10 -> p = 2 / 2^10 = 0.00195, x 4 = 0.0078
    assert agnews["4"][col["p vs best"]].text == "0.008"
    # the main run's row: 95% CI of the pooled 398/400, its params and mean final loss
    lo, hi = wilson(398, 400)
    assert sst2["8"][col["95% CI"]].text == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert [c.text for c in sst2["8"][col["Params"] :]] == ["537.1M", "0.250"]
    assert sst2["4"][col["Params"]].text == "537.0M"
    # source layer: 16 (two seeds) vs 31 (one seed) is significant by McNemar, but one seed
    # of 31 shows nothing of training noise: not bold, and a note says why
    assert not by_setting(layer, "SST-2")["16"][2].bold
    assert any("16 vs 31 rests on one training seed" in note for note in layer.notes)
    assert "evaluation noise only" in layer.caption
    # architecture: perceiver (200, 198) vs mlp (194, one seed, paired with both): b = 6 + 4,
    # c = 0 -> p = 2 / 2^10 = 0.002, one comparison; not bold: the mlp ran one seed
    assert list(arch.header[:3]) == ["Dataset", "Architecture", "Params"]
    rows = by_setting(arch, "SST-2")
    assert not rows["perceiver"][3].bold
    assert [rows["mlp"][i].text for i in (2, 3, 5, 6)] == ["33.6M", "97.0", "0.002", "1 seed"]


def test_ablation_seeds_that_overlap_are_never_bold(tmp_path):
    rows = [
        bridge(tmp_path, studies="main+soft_tokens", correct=190),
        bridge(tmp_path, studies="main+soft_tokens", seed=123, correct=150),
        bridge(tmp_path, k=16, studies="soft_tokens", correct=160),
        bridge(tmp_path, k=16, studies="soft_tokens", seed=123, correct=120),
    ]
    (table,) = ablation_tables(as_runs(tmp_path, rows))
    # pooled, K 8 beats K 16 on 60 items and loses none (p < 0.001), but seed 123 of K 8
    # (75 %) is below seed 42 of K 16 (80 %)
    assert cell_of(table, "p vs best", "", "16").text == "<0.001"
    assert cell_of(table, "Seed spread", "", "16").text == "overlaps"
    assert not cell_of(table, "Acc", "SST-2", "8").bold
    assert any("overlap although McNemar" in note for note in table.notes)


def test_ablation_block_with_a_missing_cell_is_never_bold(tmp_path):
    rows = [
        bridge(tmp_path, studies="main+soft_tokens", correct=200),
        bridge(tmp_path, k=16, studies="soft_tokens", correct=100),
        bridge(tmp_path, k=32, studies="soft_tokens", status="missing"),
    ]
    (table,) = ablation_tables(as_runs(tmp_path, rows))
    assert not cell_of(table, "Acc", "SST-2", "8").bold
    assert find(table, "", "32")[2:] == ["--"] * 6
    assert any("k32/l16/seed42" in n for n in table.notes)
    assert any("no bold, a cell has missing runs" in n for n in table.notes)


# ----------------------------------------------------------------------------- latency


def latency_record(weights: str, batch_sizes=(1, 4)) -> dict:
    """A latency.v1 record built with the project's own row builders, then validated."""
    from telepathy.latency.harness import PHASES, BenchSettings, Measurement
    from telepathy.latency.summary import speed_ratios, summarise_trials
    from telepathy.results.latency_record import result_rows, settings_block, validate_latency

    totals = {"bridge": (10.0, 12.0, 11.0), "text_relay": (100.0, 120.0, 110.0),
              "direct_text": (20.0, 22.0, 21.0)}  # fmt: skip
    measurements = []
    for size in batch_sizes:
        for method, values in totals.items():
            phases = PHASES[method]
            trials = []
            for one in values:
                total = one * size  # a batch of 4 takes 4x as long: throughput stays equal
                trial = {p: total / len(phases) for p in phases}
                trials.append({**trial, "total": sum(trial.values())})
            measurements.append(
                Measurement(method, size, trials, [2 * 2**30] * 3, [2**30] * 3, {"transmitted": 8})
            )
    settings = BenchSettings(5, 50, tuple(batch_sizes), 3, 2, tuple(totals))
    sha = "0" * 64
    record = {
        "schema_version": 1,
        "kind": "latency",
        "mode": {
            "weights": weights,
            "checkpoint": {
                "path": "c.pt",
                "sha256": sha,
                "trained_steps": 2000,
                "config_sha256": sha,
            }
            if weights == "trained_checkpoint"
            else None,
            "random_weights": None
            if weights == "trained_checkpoint"
            else {
                "seed": 42,
                "sender": {"config": "c", "tokenizer": "t"},
                "receiver": {"config": "c", "tokenizer": "t"},
                "bridge": "init",
            },
        },
        "pair": {
            "name": "paper",
            "sender_id": "s",
            "receiver_id": "r",
            "sender_revision": None,
            "receiver_revision": None,
        },
        "protocol": "dec2025",
        "dataset": "sst2",
        "soft_tokens": 8,
        "source_layer": 16,
        "config": {"steps": 2000},
        "settings": settings_block(settings, 16, "\nSentiment:"),
        "device": "cuda:0 (NVIDIA H100 80GB HBM3)",
        "dtypes": {"lm": "torch.bfloat16", "bridge": "torch.bfloat16"},
        "memory_measure": "torch.cuda.max_memory_allocated",
        "host": {
            "cpu_count": 16,
            "torch_threads": 8,
            "load_average_1m_before": 0.1,
            "load_average_1m_after": 0.2,
        },
        "parameters": {"bridge_total": 537_059_329},
        "weights_bytes": {"bridge": 1},
        "results": result_rows(
            measurements,
            [summarise_trials(m.trials_ms, PHASES[m.method], m.batch_size) for m in measurements],
            dict.fromkeys(totals, 1),
        ),
        "ratios": [
            {
                "batch_size": size,
                **speed_ratios(
                    {m.method: m.trials_ms for m in measurements if m.batch_size == size}
                ),
            }
            for size in batch_sizes
        ],
        "timings": {"wall_s": 1.0, "load_s": 0.5},
        "provenance": {
            "git_commit": "abc",
            "packages": {},
            "torch": "2",
            "device": "cuda:0",
            "started_at": "2026-01-01T00:00:00Z",
            "ended_at": "2026-01-01T00:01:00Z",
            "config_sha256": sha,
        },
    }
    assert validate_latency(record) == []
    return record


def test_latency_speedup_phases_and_throughput():
    records = [latency_record("trained_checkpoint"), latency_record("random_weights")]
    table = table4_latency(records)
    assert table.name == "table4_latency"
    header = list(table.header)
    bridge_row = find(table, "(1)", "Bridge")
    assert bridge_row[2] == "11.0"  # median of 10, 12, 11
    assert bridge_row[header.index("Speedup vs relay")] == "10.00\u00d7"  # 110 / 11
    direct = find(table, "", "Direct text")
    assert direct[header.index("Speedup vs relay")] == "5.24\u00d7"  # 110 / 21
    assert bridge_row[header.index("Bridge")] == "2.2"  # 11 / 5 phases, the median trial's
    assert bridge_row[header.index("Summary gen.")] == ""  # the bridge has no such phase
    assert bridge_row[header.index("Peak GiB")] == "2.00"
    assert bridge_row[header.index("Samples/s")] == "90.9"  # 1 / 11 ms
    for words in ("5 answer tokens", "50 summary tokens", "3 timed trials after 2 warm-up",
                  "trained bridge (2000 steps)", "random weights", "NVIDIA H100"):  # fmt: skip
        assert words in table.caption
    assert any("not like for like" in n for n in table.notes)
    throughput = table4b_throughput(records)
    assert throughput is not None and throughput.name == "table4b_throughput"
    assert find(throughput, "", "4")[2:] == ["90.9", "47.6", "9.1"]  # 4 / (4 x median ms)
    assert table4b_throughput([latency_record("random_weights", batch_sizes=(1,))]) is None


# ----------------------------------------------------------------------------- cost


def test_cost_sums_hours_per_rule_dataset_and_device(tmp_path):
    rows = [
        bridge(tmp_path, seed=42, train_s=3600, eval_s=360),
        bridge(tmp_path, seed=123, train_s=1800, eval_s=360),
        bridge(tmp_path, seed=456, status="missing"),
        bridge(tmp_path, dataset="agnews", device="cpu (2 threads)", train_s=720, eval_s=36),
        baseline(tmp_path, "lora", "sst2", eval_s=5400),
    ]
    runs = as_runs(tmp_path, rows)

    def rule(table: Table, name: str) -> dict[tuple[str, str], list[str]]:
        """(dataset, unit) -> row texts; a dataset's second unit row has an empty dataset."""
        rows, dataset = {}, ""
        for row in block(table, name):
            dataset = row[1].text or dataset
            rows[(dataset, row[2].text)] = [c.as_text() for c in row]
        return rows

    table = training_cost(runs, None)
    assert table.name == "training_cost"
    train = rule(table, "train_bridge")
    assert train[("AG News", "CPU-h")][3:5] == ["1", "0.200"]  # 720 s on the CPU
    assert train[("SST-2", "GPU-h")][3:5] == ["2^a", "1.500"]  # 3600 + 1800 s; seed 456 untimed
    assert train[("all", "GPU-h")][4] == "1.500" and train[("all", "CPU-h")][4] == "0.200"
    assert rule(table, "evaluate_bridge")[("SST-2", "GPU-h")][4] == "0.200"  # 2 x 360 s
    assert rule(table, "baseline_lora")[("SST-2", "GPU-h")][3:5] == ["1", "1.500"]
    assert any(n.startswith("a:") and "sst2/perceiver/k8/l16/seed456" in n for n in table.notes)
    # SLURM: train_bridge sst2 seed 42 ran twice (requeued): 3600 + 1800 s on 1 GPU
    name = "train_bridge-protocol=dec2025,dataset=sst2,seed=42"
    sacct = "\n".join(
        f"101|101|{name}|gpu|{state}|0:0|{seconds}|cpu=8,gres/gpu=1|s|e"
        for state, seconds in (("PREEMPTED", 3600), ("COMPLETED", 1800))
    )
    submissions = {"101": {"rule": "train_bridge", "wildcards": {"dataset": "sst2"},
                           "time_min": 120, "gpus": 1}}  # fmt: skip
    plan = {"rules": [{"rule": "train_bridge", "gpu_hours": 6.0}], "gpu_hours": 6.0}
    usage = json.loads(json.dumps(summarise_usage(parse_sacct(sacct), submissions, plan)))
    table = training_cost(runs, usage)
    col = {name: i for i, name in enumerate(table.header)}
    train = rule(table, "train_bridge")
    sst2 = train[("SST-2", "GPU-h")]
    assert sst2[col["GPU-h used (SLURM)"]] == "1.500"  # (3600 + 1800) s x 1 GPU
    assert sst2[col["Requeues"]] == "1"
    assert sst2[col["GPU-h requested"]] == "4.000"  # 2 h x 1 GPU, asked once per segment
    assert train[("AG News", "CPU-h")][col["GPU-h used (SLURM)"]] == ""  # SLURM ran none
    assert train[("all", "GPU-h")][col["GPU-h planned"]] == "6.000"
    assert train[("all", "CPU-h")][col["GPU-h planned"]] == ""  # SLURM figures once per row
    assert "GPU-hours" in table.caption and "requeues included" in table.caption


# ----------------------------------------------------------------------------- LaTeX


def test_every_table_compiles(tmp_path, dec_runs, ablation_runs, pdflatex):
    records = [latency_record("trained_checkpoint"), latency_record("random_weights")]
    tables = [
        paper_comparison(dec_runs, "dec2025"),
        paper_comparison(dec_runs, "camera_ready"),
        *ablation_tables(ablation_runs),
        table4_latency(records),
        table4b_throughput(records),
        training_cost(dec_runs, None),
    ]
    out = tmp_path / "tex"
    inputs = [write_table(t, out)[-1].name for t in tables]  # the .tex
    (out / "doc.tex").write_text(document(inputs))
    compile_pdf(out / "doc.tex", out / "doc.pdf")  # raises with pdflatex's errors
    assert (out / "doc.pdf").read_bytes().startswith(b"%PDF")
