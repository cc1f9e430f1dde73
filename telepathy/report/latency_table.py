"""Table 4 (latency per method and phase) and 4b (throughput per batch size) from latency.v1 files.

Every number is read from the records `telepathy benchmark-latency` wrote; speedups are ratios
of the stored median totals (text relay / method), as latency_summary.speed_ratios defines them.
One block per record, since a trained and a random-weights run of one grid are both timed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from telepathy.report.table import MISSING, Cell, Table

METHODS = ("bridge", "text_relay", "direct_text")  # train_step is not an inference method
METHOD_NAMES = {"bridge": "Bridge", "text_relay": "Text relay", "direct_text": "Direct text"}
# Table columns -> the phases (telepathy.latency.harness.PHASES) they hold; the sender's
# forward pass is `sender_encode` for the bridge and `sender_prefill` for the relay's
# summary prompt.
PHASE_COLUMNS = (
    ("Tokenize", ("tokenize",)),
    ("Sender fwd", ("sender_encode", "sender_prefill")),
    ("Summary gen.", ("sender_decode",)),
    ("Handoff", ("relay_handoff",)),
    ("Bridge", ("bridge",)),
    ("Recv. prefill", ("receiver_prefill",)),
    ("Recv. decode", ("receiver_decode",)),
)
GIB = 2**30


def _check(record: Mapping[str, Any]) -> None:
    if record.get("kind") != "latency" or record.get("schema_version") != 1:
        raise ValueError(
            f"not a latency.v1 record (kind={record.get('kind')!r}, "
            f"schema_version={record.get('schema_version')!r}); pass the files "
            "`telepathy benchmark-latency` writes"
        )


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _weights(record: Mapping[str, Any]) -> str:
    mode = record["mode"]
    if mode["weights"] == "trained_checkpoint":
        return f"trained bridge ({mode['checkpoint']['trained_steps']} steps)"
    return "random weights (untrained bridge and LMs of the pair's shapes)"


def _describe(i: int, record: Mapping[str, Any]) -> str:
    s = record["settings"]
    return (
        f"({i}) {record['dataset']}, pair {record['pair']['name']}, K = {record['soft_tokens']}, "
        f"layer {record['source_layer']}, {_weights(record)}, on {record['device']} "
        f"(LMs {record['dtypes']['lm']}); every method decodes {s['decode_tokens']} answer "
        f"tokens, the relay's sender {s['relay_tokens']} summary tokens, greedy, EOS ignored; "
        f"{s['trials']} timed trials after {s['warmup']} warm-up runs per method and batch size"
    )


def _by_batch(record: Mapping[str, Any]) -> dict[int, dict[str, Mapping[str, Any]]]:
    table: dict[int, dict[str, Mapping[str, Any]]] = {}
    for row in record["results"]:
        table.setdefault(row["batch_size"], {})[row["method"]] = row
    return table


def _speedup(row: Mapping[str, Any], relay: Mapping[str, Any] | None) -> str:
    if relay is None:
        return MISSING
    return f"{relay['total_ms']['median'] / row['total_ms']['median']:.2f}\u00d7"


def _original_ratio_note(i: int, record: Mapping[str, Any], batch: int) -> str | None:
    for ratios in record["ratios"]:
        if ratios["batch_size"] == batch and "original_protocol" in ratios:
            r = ratios["original_protocol"]
            return (
                f"({i}) timed as the original's 22.4\u00d7 was (bridge stopped before generating, "
                f"relay generating): {r['text_relay_over_bridge']:.2f}\u00d7; not like for like "
                "(pitfall 20), shown only to compare with the paper"
            )
    return None


def table4_latency(records: Sequence[Mapping[str, Any]]) -> Table:
    """Table 4: per method the median total and per-phase ms, speedup, memory, throughput."""
    if not records:
        raise ValueError("no latency records given")
    body, groups, notes, described = [], [], [], []
    for i, record in enumerate(records, start=1):
        _check(record)
        by_batch = _by_batch(record)
        batch = min(by_batch)  # single-sample latency when batch 1 was timed
        methods = [m for m in METHODS if m in by_batch[batch]]
        if not methods:
            raise ValueError(f"latency record [{i}] has no inference method at batch {batch}")
        described.append(_describe(i, record) + f"; rows at batch size {batch}")
        groups.append(len(body))
        relay = by_batch[batch].get("text_relay")
        for method in methods:
            row = by_batch[batch][method]
            phases = row["phases_ms"]
            cells = []
            for _, names in PHASE_COLUMNS:
                present = [phases[n]["median"] for n in names if n in phases]
                cells.append(_ms(present[0]) if present else "")
            total = row["total_ms"]
            body.append(
                [
                    f"({i})" if method == methods[0] else "",
                    METHOD_NAMES[method],
                    Cell(_ms(total["median"]), small=f"[{_ms(total['p25'])}, {_ms(total['p75'])}]"),
                    *cells,
                    _speedup(row, relay),
                    f"{row['memory']['peak_bytes'] / GIB:.2f}",
                    f"{row['throughput_items_per_s']:.1f}",
                ]
            )
        if relay is None:
            notes.append(f"({i}) --: no text relay was timed, so no speedup")
        original = _original_ratio_note(i, record, batch)
        if original:
            notes.append(original)
    measures = sorted({r["memory_measure"] for r in records})
    caption = (
        "Table 4: latency per method in ms; total: median over trials [25th, 75th percentile]; "
        "phase columns: each phase's median over trials (medians need not add up to the median "
        "total; empty: the method has no such phase). Speedup: the text relay's median total / "
        "the method's (ratio of medians). Peak memory in GiB: "
        + "; ".join(measures)
        + ". Throughput: samples per second (batch size / median total). Benchmarks: "
        + "; ".join(described)
        + "."
    )
    header = [
        "Run",
        "Method",
        "Total ms",
        *[name for name, _ in PHASE_COLUMNS],
        "Speedup vs relay",
        "Peak GiB",
        "Samples/s",
    ]
    return Table(
        name="table4_latency",
        caption=caption,
        header=header,
        rows=body,
        align="ll" + "r" * (len(header) - 2),
        groups=groups,
        notes=notes,
        wide=True,
    )


def table4b_throughput(records: Sequence[Mapping[str, Any]]) -> Table | None:
    """Table 4b (Batch | Bridge | Direct | Relay, items/s), or None if one batch size only."""
    for record in records:
        _check(record)
    if all(len(_by_batch(r)) < 2 for r in records):
        return None
    body, groups, described, absent = [], [], [], False
    for i, record in enumerate(records, start=1):
        by_batch = _by_batch(record)
        described.append(_describe(i, record))
        groups.append(len(body))
        for batch in sorted(by_batch):
            cells = []
            for method in ("bridge", "direct_text", "text_relay"):
                row = by_batch[batch].get(method)
                absent |= row is None
                cells.append(MISSING if row is None else f"{row['throughput_items_per_s']:.1f}")
            body.append([f"({i})" if batch == min(by_batch) else "", str(batch), *cells])
    caption = (
        "Table 4b: throughput in samples per second (batch size / median total time over trials) "
        "per batch size. Benchmarks: " + "; ".join(described) + "."
    )
    return Table(
        name="table4b_throughput",
        caption=caption,
        header=["Run", "Batch", "Bridge", "Direct", "Relay"],
        rows=body,
        align="lrrrr",
        groups=groups,
        notes=["--: the method was not timed at this batch size"] if absent else [],
    )
