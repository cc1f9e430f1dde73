"""The report's core: table rendering (LaTeX that compiles, text, HTML), run summaries, the
combined run table with its missing-run list, and which tables and figures a grid has."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from telepathy.grid.expand import expand_grid
from telepathy.grid.products import products
from telepathy.report.runs import paired_items, summarise
from telepathy.report.table import Cell, Table, document, escape, to_html, to_latex, to_text
from telepathy.results.merge import COLUMNS
from telepathy.results.merged_table import combine_runs, load_runs

REPO = Path(__file__).resolve().parents[2]


def row(run_id, seed, accuracy, n=200, status="complete", **extra):
    values = dict.fromkeys(COLUMNS)
    values.update(
        run_id=run_id, status=status, protocol="corrected", method="bridge", studies="main",
        pair="small", dataset="synth_sentiment", architecture="perceiver", soft_tokens=8,
        source_layer=12, seed=seed, eval_result=f"/nowhere/{seed}.json",
    )  # fmt: skip
    if status == "complete":
        values.update(accuracy=accuracy, n_examples=n, n_correct=round(accuracy * n))
    values.update(extra)
    return values


def test_escape_makes_specials_safe_and_signs_math():
    assert escape("acc_% & $x#") == r"acc\_\% \& \$x\#"
    assert escape("±0.6") == r"$\pm$0.6"


def test_cells_render_bold_small_and_marks_in_latex_text_and_html():
    table = Table(
        "t", "Accuracy (%) on x_y", ["Method", "SST-2"],
        [["Bridge", Cell("96.7", "±0.6", bold=True, mark="a")], ["Random", "50.0"]],
        notes=["a: three seeds"],
    )  # fmt: skip
    latex = to_latex(table)
    assert r"\textbf{96.7}{\scriptsize $\pm$0.6}$^{a}$ \\" in latex
    assert r"\caption{Accuracy (\%) on x\_y}\label{tab:t}" in latex
    assert latex.count(r"\toprule") == latex.count(r"\bottomrule") == 1
    assert "| Bridge | *96.7 ±0.6*^a |" in to_text(table)
    assert "<b>96.7 <small>±0.6</small></b><sup>a</sup>" in to_html(table)


def test_a_row_of_the_wrong_width_is_refused():
    with pytest.raises(ValueError, match="row 1 has 1 cells, the header 2"):
        Table("t", "c", ["a", "b"], [["1", "2"], ["3"]])


def test_tables_compile_with_pdflatex(tmp_path, pdflatex):
    from telepathy.report.latex import compile_pdf

    wide = Table("wide", "Wide, with 50% & notes", ["M", *"ABCDEFGH"], [["x", *"12345678"]],
                 wide=True, notes=["--: not in the grid"])  # fmt: skip
    long = Table("long", "Long", ["Run", "Acc"], [[f"run_{i}", f"{i}.0"] for i in range(80)],
                 long=True, groups=[40])  # fmt: skip
    for t in (wide, long):
        (tmp_path / f"{t.name}.tex").write_text(to_latex(t))
    doc = tmp_path / "doc.tex"
    doc.write_text(document(["wide.tex", "long.tex"]))
    compile_pdf(doc, tmp_path / "doc.pdf")
    assert (tmp_path / "doc.pdf").read_bytes().startswith(b"%PDF")
    broken = tmp_path / "broken.tex"
    broken.write_text(document(["nonexistent.tex"]))
    with pytest.raises(RuntimeError, match="pdflatex failed on"):
        compile_pdf(broken, tmp_path / "broken.pdf")
    assert not (tmp_path / "broken.pdf").exists()


def test_a_cell_summary_uses_ddof_1_and_pools_items_for_wilson():
    runs = pd.DataFrame([row("a", 42, 0.96), row("b", 123, 0.975), row("c", 456, 0.965)])
    s = summarise(runs)
    assert s.seeds == (42, 123, 456)
    assert s.mean == pytest.approx((0.96 + 0.975 + 0.965) / 3)
    # sample std by hand: deviations -0.006667, +0.008333, -0.001667 -> sqrt(1.1667e-4 / 2)
    assert s.std == pytest.approx(math.sqrt((0.006667**2 + 0.008333**2 + 0.001667**2) / 2), 1e-3)
    assert (s.n_correct, s.n) == (192 + 195 + 193, 600)
    p, n, z = 580 / 600, 600, 1.959964  # Wilson by the textbook formula
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert s.wilson == pytest.approx((centre - half, centre + half), abs=1e-6)


def test_a_cell_with_a_missing_seed_has_no_numbers_and_names_it():
    runs = pd.DataFrame([row("a", 42, 0.96), row("b", 123, None, status="missing")])
    s = summarise(runs)
    assert not s.complete and s.missing == ("b",)
    with pytest.raises(ValueError, match=r"missing runs \['b'\]"):
        _ = s.mean  # never the mean of the seeds that happen to exist


def test_a_cell_never_mixes_settings():
    runs = pd.DataFrame([row("a", 42, 0.9), row("b", 42, 0.8, soft_tokens=16)])
    with pytest.raises(ValueError, match="mixes soft_tokens"):
        summarise(runs)


def _eval_file(path: Path, correct: list[bool]) -> str:
    samples = [
        {"id": f"i{i}", "gold": "a", "prediction": "a", "raw": "a", "correct": c,
         "correct_lenient": c}
        for i, c in enumerate(correct)
    ]  # fmt: skip
    path.write_text(json.dumps({"samples": samples}))
    return str(path)


def test_paired_items_pair_by_seed_and_a_single_run_with_every_seed(tmp_path):
    a = pd.DataFrame([
        row("a42", 42, 0.5, n=2, eval_result=_eval_file(tmp_path / "a42", [True, False])),
        row("a123", 123, 1.0, n=2, eval_result=_eval_file(tmp_path / "a123", [True, True])),
    ])  # fmt: skip
    b = pd.DataFrame([
        row("b42", 42, 0.0, n=2, eval_result=_eval_file(tmp_path / "b42", [False, False])),
        row("b123", 123, 0.5, n=2, eval_result=_eval_file(tmp_path / "b123", [False, True])),
    ])  # fmt: skip
    x, y = paired_items(summarise(a), summarise(b))
    assert x.tolist() == [True, False, True, True] and y.tolist() == [False, False, False, True]
    single = pd.DataFrame([row("d", 42, 0.5, n=2, method="probe",
                               eval_result=_eval_file(tmp_path / "d", [False, True]))])  # fmt: skip
    x, y = paired_items(summarise(a), summarise(single))
    assert len(x) == 4 and y.tolist() == [False, True, False, True]
    three = _eval_file(tmp_path / "e", [False, True, True])
    other = pd.DataFrame([row("e", 42, 0.5, n=3, method="probe", eval_result=three)])
    with pytest.raises(ValueError, match="different items"):
        paired_items(summarise(a), summarise(other))


def test_combine_runs_writes_csv_parquet_and_names_missing_runs(tmp_path, caplog):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame([row("a", 42, 0.9)]).to_csv(first, index=False)
    pd.DataFrame([row("b", 123, None, status="missing", dataset="passkey")]).to_csv(
        second, index=False
    )
    with caplog.at_level("WARNING", logger="telepathy"):
        runs = combine_runs(
            [first, second], tmp_path / "runs.csv", tmp_path / "runs.parquet", tmp_path / "m.txt"
        )
    assert list(runs.run_id) == ["a", "b"]
    assert pd.read_parquet(tmp_path / "runs.parquet").run_id.tolist() == ["a", "b"]
    listing = (tmp_path / "m.txt").read_text().splitlines()
    assert listing == ["# 1 of 2 expected runs are not complete", "b\tmissing\t/nowhere/123.json"]
    assert "missing run: b" in caplog.text
    with pytest.raises(ValueError, match="listed twice"):
        load_runs([first, first])


def test_combine_runs_cli(tmp_path):
    table = tmp_path / "a.csv"
    pd.DataFrame([row("a", 42, 0.9)]).to_csv(table, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "telepathy", "combine-runs", str(table), "--csv",
         str(tmp_path / "runs.csv"), "--missing", str(tmp_path / "m.txt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.txt").read_text() == "# 0 of 1 expected runs are not complete\n"


def _grid(*overlays: Path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in overlays:
        extra = yaml.safe_load(overlay.read_text())
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = _merge(config[key], value)
            else:
                config[key] = value
    return expand_grid(config)


def _merge(base, extra):
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def test_the_paper_grid_has_every_table_and_figure():
    names = {p.name: p for p in products(_grid())}
    assert set(names) == {
        "table1_main", "table2_reasoning", "table3_baselines", "table4_latency",
        "table4b_throughput", "table5_soft_tokens", "ablation_source_layer",
        "ablation_architecture", "appendix_seeds", "invalid_rates", "training_cost",
        "paper_comparison_dec2025", "paper_comparison_camera_ready", "token_ablation",
        "training_curves", "latency_breakdown", "soft_token_projection", "attention_maps",
    }  # fmt: skip
    assert names["table1_main"].datasets == ("agnews", "banking77", "sst2", "trec")
    assert names["table2_reasoning"].datasets == (
        "boolq", "commonsenseqa", "gsm8k", "passkey", "piqa",
    )  # fmt: skip
    assert names["table5_soft_tokens"].datasets == ("sst2",)
    assert names["table4_latency"].datasets == () and names["table4_latency"].latency
    inspected = names["soft_token_projection"].inspections
    assert [(r.dataset, r.soft_tokens, r.seed) for r in inspected] == [
        ("agnews", 8, 42), ("banking77", 16, 42), ("sst2", 8, 42), ("trec", 16, 42),
    ]  # fmt: skip


def test_a_grid_without_reasoning_tasks_or_latency_has_no_table_2_or_4():
    names = {p.name for p in products(_grid(REPO / "tests" / "workflow" / "config.yaml"))}
    assert "table2_reasoning" not in names and "table4_latency" not in names
    assert {"table1_main", "appendix_seeds", "attention_maps"} <= names
