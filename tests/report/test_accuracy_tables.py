"""Accuracy tables from a small hand-made grid whose every number can be checked by hand.

The grid (protocol dec2025, pair paper): eval JSONs with per-item records, valid against the
result schema, merged into a run table the way `telepathy merge-runs` does. Run `r` is right
on the first k items of its dataset's item list, so discordant pairs are |k_a - k_b| per seed.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from telepathy.data.registry import Example, get_dataset
from telepathy.evaluate import score_predictions
from telepathy.report import stats
from telepathy.report.accuracy_tables import (
    appendix_seeds,
    invalid_rates,
    table1_main,
    table2_reasoning,
)
from telepathy.report.baseline_table import table3_baselines
from telepathy.report.latex import compile_pdf
from telepathy.report.table import Table, cell, document, to_latex, write_table
from telepathy.results.identity import record_run_id, result_id
from telepathy.results.merge import COLUMNS, ExpectedBaseline, ExpectedRun, baseline_row, run_row
from telepathy.results.merged_table import load_runs
from telepathy.results.provenance import ids_digest
from telepathy.results.validate import validate_result

FIXTURES = Path(__file__).parents[1] / "fixtures" / "results"
N_ITEMS = {"sst2": 200, "agnews": 200, "trec": 100, "boolq": 100, "passkey": 50}
PT_PARAMS, LORA_PARAMS = 32768, 3407872

# (dataset, K, layer, studies) -> {seed: items right}; None = the run never finished
BRIDGES = {
    ("sst2", 8, 16, "main+soft_tokens"): {42: 192, 123: 195, 456: 193},
    ("sst2", 4, 16, "soft_tokens"): {42: 150},
    ("agnews", 8, 31, "main"): {42: 182, 123: 182, 456: 182},
    ("trec", 16, 31, "main"): {42: 85, 123: 87, 456: None},
    ("boolq", 16, 31, "main"): {42: 75},
    ("passkey", 16, 31, "main"): {42: 40},
    ("passkey", 32, 31, "main"): {42: 45},
}
# (method, dataset) -> {seed: items right}
BASELINES = {
    ("prompt_tuning", "sst2"): {42: 188, 123: 190, 456: 192},
    ("prompt_tuning", "agnews"): {42: 180, 123: 180, 456: 180},
    ("prompt_tuning", "trec"): {42: 80, 123: 82, 456: 84},
    ("zero_shot_receiver", "sst2"): {42: 160},
    ("zero_shot_receiver", "agnews"): {42: 140},
    ("zero_shot_receiver", "trec"): {42: 60},
    ("zero_shot_receiver", "boolq"): {42: 65},
    ("zero_shot_sender", "boolq"): {42: 60},
    ("text_relay", "boolq"): {42: 55},
    ("lora", "sst2"): {42: 185, 123: 190, 456: 186},
}
MISSING_RUN = "bridge/dec2025/paper/trec/perceiver/k16/l31/seed456"


def outputs(dataset: str, n_right: int, invalid: bool) -> tuple[list[Example], list[str]]:
    """Items of `dataset` and raw outputs right on the first n_right; wrong ones name another
    label (or nothing, if `invalid`); a wrong passkey gets 3 of its 5 digits right."""
    spec = get_dataset(dataset)
    examples, raw = [], []
    for i in range(N_ITEMS[dataset]):
        if spec.label_names is None:
            gold = f"{10000 + i}"
            wrong = gold[:3] + "".join(str((int(d) + 1) % 10) for d in gold[3:])
        else:
            gold = spec.label_names[i % len(spec.label_names)]
            wrong = spec.label_names[(i + 1) % len(spec.label_names)]
        examples.append(Example(f"{dataset}-{i}", {"text": "x"}, gold))
        right = i < n_right
        raw.append(
            spec.label_word(gold) if right else ("???" if invalid else spec.label_word(wrong))
        )
    return examples, raw


def eval_record(method: str, dataset: str, seed: int, n_right: int, k: int | None) -> dict:
    """A schema-valid eval JSON (metrics recomputed from the samples by the real scorer)."""
    record = copy.deepcopy(json.loads((FIXTURES / "eval_bridge_sst2.json").read_text()))
    examples, raw = outputs(dataset, n_right, invalid=method == "zero_shot_receiver")
    metrics, samples = score_predictions(get_dataset(dataset), examples, raw)
    ids = [s["id"] for s in samples]
    record.update(
        method=method,
        protocol="dec2025",
        dataset=dataset,
        seed=seed,
        soft_tokens=k,
        source_layer=record["source_layer"] if method == "bridge" else None,
        metrics=metrics,
        samples=samples,
    )
    record["pair"]["name"] = "paper"
    record["eval_examples"].update(n=len(ids), ids_sha256=ids_digest(ids))
    record["run_id"] = result_id(record_run_id(record), "eval")
    if method != "bridge":
        trainable = {"prompt_tuning": PT_PARAMS, "lora": LORA_PARAMS}.get(method, 0)
        record["parameters"].update(bridge_trainable=0, bridge_total=0)
        record["parameters"]["method_trainable"] = trainable
    problems = validate_result(record)
    assert problems == [], problems
    return record


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> pd.DataFrame:
    """The merged run table of the whole grid above, loaded as the builders get it."""
    root = tmp_path_factory.mktemp("grid")
    train = json.loads((FIXTURES / "train_bridge_sst2.json").read_text())
    rows = []
    for (dataset, k, layer, studies), seeds in BRIDGES.items():
        for seed, n_right in seeds.items():
            path = root / f"bridge-{dataset}-k{k}-seed{seed}.json"
            run = ExpectedRun(
                "dec2025", "paper", dataset, "perceiver", k, layer, seed, studies, "t", str(path)
            )
            if n_right is None:
                rows.append(run_row(run, None, None))
                continue
            record = eval_record("bridge", dataset, seed, n_right, k)
            path.write_text(json.dumps(record))
            rows.append(run_row(run, train, record))
    for (method, dataset), seeds in BASELINES.items():
        for seed, n_right in seeds.items():
            path = root / f"{method}-{dataset}-seed{seed}.json"
            record = eval_record(method, dataset, seed, n_right, None)
            path.write_text(json.dumps(record))
            spec = ExpectedBaseline("dec2025", method, "paper", dataset, seed, str(path))
            rows.append(baseline_row(spec, record))
    csv = root / "runs.csv"
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(csv, index=False)
    return load_runs([csv])


def right_on(dataset: str, n_right: int) -> np.ndarray:
    return np.arange(N_ITEMS[dataset]) < n_right


def text(value) -> str:
    return cell(value).text


def row_of(table: Table, label: str, column: int = 0) -> list:
    (row,) = [r for r in table.rows if text(r[column]) == label]
    return row


def wilson(k: int, n: int) -> tuple[float, float]:
    """Textbook Wilson score interval (z for 95%), independent of telepathy.report.stats."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# ----------------------------------------------------------------------------- table 1


def test_table1_cells_are_mean_std_and_pooled_wilson(grid):
    table = table1_main(grid)
    assert list(map(text, table.header)) == ["Method", "SST-2", "AG News", "TREC", "Avg"]
    labels = [text(r[0]) for r in table.rows if text(r[0])]
    assert labels == [
        "Random",
        "Prompt tuning",
        "Receiver 0-shot",
        "LoRA (receiver)",
        "Bridge (ours)",
    ]
    bridge = row_of(table, "Bridge (ours)")
    # seeds 0.96 / 0.975 / 0.965: mean 0.96667; deviations -0.00667, 0.00833, -0.00167;
    # squares sum 1.1667e-4, / (3 - 1) -> var 5.833e-5, std 0.00764 -> "±0.8"
    assert (text(bridge[1]), cell(bridge[1]).small) == ("96.7", "±0.8")
    ci_line = table.rows[table.rows.index(bridge) + 1]
    lo, hi = wilson(192 + 195 + 193, 600)  # items pooled over the three seeds
    assert cell(ci_line[1]).small == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
    assert text(bridge[2]) == "91.0" and cell(bridge[2]).small == "±0.0"
    # Random from the class count: 1/2, 1/4, 1/6 and their plain mean 30.56
    assert list(map(text, row_of(table, "Random")[1:])) == ["50.0", "25.0", "16.7", "30.6"]
    # Avg: mean of the column means (95.0 + 90.0 + 82.0) / 3 = 89.0; (80 + 70 + 60) / 3 = 70.0
    assert text(row_of(table, "Prompt tuning")[4]) == "89.0"
    assert text(row_of(table, "Receiver 0-shot")[4]) == "70.0"
    assert cell(row_of(table, "Receiver 0-shot")[1]).small == ""  # one run: no ± shown


def test_table1_missing_seed_is_dashes_and_named_never_a_partial_mean(grid):
    table = table1_main(grid)
    bridge = row_of(table, "Bridge (ours)")
    assert text(bridge[3]) == "--"  # TREC seeds 42 and 123 exist; their mean is not shown
    assert text(bridge[4]) == "--"  # no Avg over a row with a missing cell
    (note,) = [n for n in table.notes if "run(s) missing" in n]
    assert MISSING_RUN in note
    assert "--" in to_latex(table) and "86.0" not in to_latex(table)


def test_table1_bold_only_where_mcnemar_survives_bonferroni(grid):
    table = table1_main(grid)
    bridge, pt = row_of(table, "Bridge (ours)"), row_of(table, "Prompt tuning")
    # SST-2: bridge vs runner-up prompt tuning, 4 + 5 + 1 = 10 discordant items all for the
    # bridge -> exact p = 2 * 0.5**10 = 0.00195; 3 columns tested -> 0.0059 < 0.05: bold
    assert cell(bridge[1]).bold and not cell(pt[1]).bold
    # AG News: 2 + 2 + 2 = 6 for the bridge -> p = 2 * 0.5**6 = 0.031 < 0.05 raw, but
    # 3 * 0.031 = 0.094 after Bonferroni: the best (91.0) is not bold
    assert text(bridge[2]) == "91.0" and not cell(bridge[2]).bold
    # TREC: the bridge is missing; prompt tuning (82.0) beats receiver 0-shot by 66 items
    assert text(pt[3]) == "82.0" and cell(pt[3]).bold
    assert "Bonferroni over the 3 columns tested" in table.caption
    assert r"\textbf{96.7}" in to_latex(table)
    assert not any(cell(c).bold for c in row_of(table, "Random"))


# ----------------------------------------------------------------------------- table 2


def test_table2_reasoning_tasks_per_k_and_digit_accuracy(grid):
    table = table2_reasoning(grid)
    header = list(map(text, table.header))
    assert header == [
        "Task",
        "Random",
        "Sender 0-shot",
        "Receiver 0-shot",
        "Text relay",
        "Bridge, 16 tok",
        "Bridge, 32 tok",
    ]
    boolq, passkey = row_of(table, "BoolQ"), row_of(table, "Passkey")
    assert list(map(text, boolq[1:])) == ["50.0", "60.0", "65.0", "55.0", "75.0", "--"]
    assert text(passkey[1]) == "--"  # open answer: no chance level
    assert list(map(text, passkey[5:])) == ["80.0", "90.0"]
    # digit accuracy: right items 5/5 digits, wrong ones 3/5 -> (40 + 10 * 0.6) / 50 = 0.92
    # and (45 + 5 * 0.6) / 50 = 0.96
    digits = row_of(table, "Passkey digit acc.")
    assert list(map(text, digits[5:])) == ["92.0", "96.0"]
    # BoolQ: bridge (75) vs receiver 0-shot (65) on 100 shared items: 10 discordant -> 0.002;
    # Passkey: K 32 vs K 16, 5 discordant -> 0.0625; Bonferroni over 2 -> only BoolQ bold
    assert cell(boolq[5]).bold and not cell(passkey[6]).bold


def test_a_table_without_data_says_what_is_missing(grid):
    classification_only = grid[grid.dataset.isin(["sst2", "agnews"])]
    with pytest.raises(ValueError, match="table2_reasoning: no main-study bridge or baseline"):
        table2_reasoning(classification_only)
    with pytest.raises(ValueError, match="protocol values"):
        table1_main(pd.concat([grid, grid.assign(protocol="corrected", run_id=grid.run_id + "x")]))


# ----------------------------------------------------------------------------- table 3


def test_table3_mcnemar_is_holm_adjusted_per_dataset(grid):
    table = table3_baselines(grid)
    bridge = {
        s: right_on("sst2", k) for s, k in BRIDGES[("sst2", 8, 16, "main+soft_tokens")].items()
    }

    def raw_p(method: str) -> float:
        runs = BASELINES[(method, "sst2")]
        seeds = list(bridge) if len(runs) == 1 else list(runs)  # one run pairs with each seed
        mine = [right_on("sst2", runs.get(s, next(iter(runs.values())))) for s in seeds]
        return stats.mcnemar_exact(
            np.concatenate(mine), np.concatenate([bridge[s] for s in seeds])
        ).p_value

    raw = {m: raw_p(m) for m in ("prompt_tuning", "zero_shot_receiver", "lora")}
    assert raw["prompt_tuning"] == pytest.approx(2 * 0.5**10)  # 10 discordant, exact
    assert raw["lora"] == pytest.approx(2 * 0.5**19)  # 7 + 5 + 7 discordant
    # Holm by hand: ascending p times m, m - 1, ..., running max
    order = sorted(raw, key=raw.get)
    adjusted, running = {}, 0.0
    for rank, method in enumerate(order):
        running = max(running, (len(order) - rank) * raw[method])
        adjusted[method] = min(1.0, running)
    assert order == ["zero_shot_receiver", "lora", "prompt_tuning"]
    sst2 = table.rows[: table.groups[1]]
    for label, method in [
        ("Prompt tuning", "prompt_tuning"),
        ("LoRA (receiver)", "lora"),
        ("Receiver 0-shot", "zero_shot_receiver"),
    ]:
        (row,) = [r for r in sst2 if text(r[1]) == label]
        p = adjusted[method]
        shown = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
        stars = "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
        assert text(row[6]) == shown + stars


def test_table3_effects_params_and_why_a_test_is_missing(grid):
    table = table3_baselines(grid)
    sst2 = table.rows[: table.groups[1]]
    pt = next(r for r in sst2 if text(r[1]) == "Prompt tuning")
    assert text(pt[0]) == "SST-2" and text(pt[2]) == "32.8K"
    assert text(pt[5]) == "-1.7"  # 95.0 - 96.67 points
    a, b = np.array([188, 190, 192]) / 200, np.array([192, 195, 193]) / 200
    assert text(pt[7]) == f"{sps.ttest_rel(a, b).pvalue:.3f}"
    diff = a - b
    assert text(pt[8]) == f"{diff.mean() / diff.std(ddof=1):.2f}"
    zero_shot = next(r for r in sst2 if text(r[1]) == "Receiver 0-shot")
    assert text(zero_shot[2]) == "0"
    assert (text(zero_shot[7]), cell(zero_shot[7]).mark) == ("--", "a")  # one run: no t-test
    assert any(n.startswith("a: fewer than 2 seeds") for n in table.notes)
    bridge = next(r for r in sst2 if text(r[1]) == "Bridge, 8 tok")  # passkey has two K
    assert text(bridge[2]) == "1.2M" and text(bridge[5]) == "(ref.)"
    # TREC's bridge is missing: no comparison at all, and the run is named
    trec = table.rows[table.groups[2] : table.groups[3]]
    assert text(trec[0][0]) == "TREC"
    assert all(text(r[5]) == "--" for r in trec if "Bridge" not in text(r[1]))
    assert any(MISSING_RUN in n for n in table.notes)


# ----------------------------------------------------------------------------- appendix, invalid


def test_appendix_lists_every_run_with_missing_rows(grid):
    table = appendix_seeds(grid)
    assert table.long and len(table.rows) == len(grid)
    (missing,) = [r for r in table.rows if text(r[-1]) != "complete"]
    assert [text(c) for c in missing] == [
        "TREC", "Bridge", "perceiver", "16", "31", "456", "--", "--", "--", "--", "missing"
    ]  # fmt: skip
    ablation = next(r for r in table.rows if text(r[3]) == "4")
    lo, hi = wilson(150, 200)
    assert [text(c) for c in ablation[6:10]] == [
        "75.0", f"[{100 * lo:.1f}, {100 * hi:.1f}]", "200", "0.0"
    ]  # fmt: skip


def test_invalid_rates_mean_over_seeds(grid):
    table = invalid_rates(grid)
    header = list(map(text, table.header))
    zero_shot = row_of(table, "Receiver 0-shot")
    # the receiver's 40 wrong SST-2 answers name no label: 40 / 200 invalid
    assert text(zero_shot[header.index("SST-2")]) == "20.0"
    assert text(row_of(table, "Bridge, 8 tok")[header.index("SST-2")]) == "0.0"
    assert text(row_of(table, "Bridge, 16 tok")[header.index("TREC")]) == "--"
    assert "no label word" in table.caption


# ----------------------------------------------------------------------------- LaTeX


def test_all_tables_compile_with_pdflatex(grid, tmp_path, pdflatex):
    tables = [table1_main, table2_reasoning, table3_baselines, appendix_seeds, invalid_rates]
    names = [write_table(build(grid), tmp_path)[-1].name for build in tables]  # the .tex
    for name in names:  # OT1 fonts print a bare < or > as inverted marks; escape() spells them
        assert not {"<", ">"} & set((tmp_path / name).read_text()), name
    (tmp_path / "all.tex").write_text(document(names))
    compile_pdf(tmp_path / "all.tex", tmp_path / "all.pdf")  # raises with pdflatex's errors
