"""`telepathy benchmark-latency`: check the arguments, load the pair, time, validate, write.

Every argument is checked before a model loads. The bridge is a trained checkpoint (from
`telepathy train --bridge`), unless `--random-weights` builds every model at full size from its
config with random weights (models/random_weights.py) and a random bridge of the right shape,
for speed and memory on a GPU node without hub access. The result file records which.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

from telepathy.cli.args import (
    PAIR_HELP,
    Command,
    add_runtime,
    add_set_option,
    data_snapshot,
    model_source,
    run_overrides,
)

log = logging.getLogger("telepathy")

DEFAULT_METHODS = "bridge,direct_text,text_relay"


class LatencyArgumentError(ValueError):
    """Bad benchmark arguments; the message lists every problem, each naming its value."""


# ----------------------------------------------------------------------------- parser


def add_weights(p: argparse.ArgumentParser) -> None:
    """What is timed: a trained bridge, or every model at full size with random weights."""
    p.add_argument("--pair", required=True, help=PAIR_HELP)
    p.add_argument(
        "--protocol", help="required with --random-weights; with --checkpoint it must match"
    )
    p.add_argument(
        "--dataset", help="required with --random-weights; with --checkpoint it must match"
    )
    p.add_argument("--seed", type=int, default=0, help="--random-weights: seed of the bridge")
    p.add_argument("--soft-tokens", type=int, help="--random-weights: K")
    p.add_argument("--source-layer", type=int, help="--random-weights: sender hidden_states index")
    add_set_option(p, "--random-weights: override a resolved setting (repeatable)")
    weights = p.add_mutually_exclusive_group(required=True)
    weights.add_argument(
        "--checkpoint", type=Path, help="trained final bridge (.pt) from `telepathy train --bridge`"
    )
    weights.add_argument(
        "--random-weights",
        action="store_true",
        help="full-size models from their configs and a bridge, all with random weights",
    )


def add_benchmark_latency(p: argparse.ArgumentParser) -> None:
    add_weights(p)
    p.add_argument("--batch-sizes", default="1,2,4,8,16", help="comma-separated, e.g. 1,4,16")
    p.add_argument("--trials", type=int, default=20, help="timed runs per method and batch size")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (per method)")
    p.add_argument(
        "--decode-tokens", type=int, default=8, help="answer tokens every method generates"
    )
    p.add_argument(
        "--relay-tokens", type=int, default=50, help="summary tokens of the text relay (Era B: 50)"
    )
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        help="comma-separated: bridge, direct_text, text_relay, train_step (training iteration: "
        "forward + backward through the frozen receiver + AdamW step)",
    )
    p.add_argument(
        "--n-examples", type=int, default=64, help="eval examples cycled through as inputs"
    )
    p.add_argument("--out", type=Path, required=True, help="output: latency JSON")
    add_runtime(p)


# ----------------------------------------------------------------------------- checking input


def _int_list(text: str, name: str, problems: list[str]) -> tuple[int, ...]:
    values: list[int] = []
    for item in text.split(","):
        try:
            value = int(item.strip())
        except ValueError:
            problems.append(f"{name}: {item.strip()!r} in {text!r} is not an integer")
            continue
        if value < 1:
            problems.append(f"{name}: {value} in {text!r} must be >= 1")
        values.append(value)
    if not values and not problems:
        problems.append(f"{name}: {text!r} names no value")
    return tuple(values)


def check_settings(args: argparse.Namespace):
    """BenchSettings from the arguments, or LatencyArgumentError listing every bad value."""
    from telepathy.latency.harness import METHODS, BenchSettings

    problems: list[str] = []
    batch_sizes = _int_list(args.batch_sizes, "--batch-sizes", problems)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    for method in methods:
        if method not in METHODS:
            problems.append(f"--methods: unknown method {method!r}; valid: {', '.join(METHODS)}")
    if not methods:
        problems.append(f"--methods: {args.methods!r} names no method")
    if len(set(methods)) != len(methods):
        problems.append(f"--methods: {args.methods!r} names a method twice")
    for name, value, minimum in (
        ("--trials", args.trials, 1),
        ("--warmup", args.warmup, 0),
        ("--decode-tokens", args.decode_tokens, 1),
        ("--relay-tokens", args.relay_tokens, 1),
        ("--n-examples", args.n_examples, 1),
    ):
        if value < minimum:
            problems.append(f"{name}: {value} must be >= {minimum}")
    if batch_sizes and args.n_examples < max(batch_sizes):
        problems.append(
            f"--n-examples: {args.n_examples} is smaller than the largest batch size "
            f"{max(batch_sizes)}; every batch must hold distinct examples"
        )
    if problems:
        raise LatencyArgumentError("; ".join(problems))
    return BenchSettings(
        decode_tokens=args.decode_tokens,
        relay_tokens=args.relay_tokens,
        batch_sizes=batch_sizes,
        trials=args.trials,
        warmup=args.warmup,
        methods=methods,
    )


def resolve_weights(args: argparse.Namespace) -> tuple[Any, dict[str, Any] | None]:
    """(RunConfig, checkpoint state or None) before any model loads; errors name the value."""
    from telepathy.experiment.config import RunConfig, resolve_run_config
    from telepathy.results.checkpoint import CheckpointError, load_checkpoint

    if args.random_weights:
        missing = [f"--{n}" for n in ("protocol", "dataset") if getattr(args, n) is None]
        if missing:
            raise LatencyArgumentError(f"--random-weights needs {' and '.join(missing)}")
        cfg = resolve_run_config(
            protocol=args.protocol,
            pair=args.pair,
            dataset=args.dataset,
            seed=args.seed,
            overrides=run_overrides(args),
        )
        return cfg, None
    path: Path = args.checkpoint
    if not path.exists():
        raise CheckpointError(
            f"--checkpoint {path} does not exist; give the final bridge written by "
            "`telepathy train --bridge`, or measure with --random-weights"
        )
    state = load_checkpoint(path)
    if state.get("kind") != "bridge":
        raise CheckpointError(
            f"--checkpoint {path} is a {state.get('kind')!r} file, not a final bridge; give the "
            "file `telepathy train` wrote with --bridge"
        )
    cfg = RunConfig.from_dict(state["config"])
    problems = [
        f"--{name} {given!r}: checkpoint {path} was trained with {name} {trained!r}"
        for name, given, trained in (
            ("pair", args.pair, cfg.pair),
            ("protocol", args.protocol, cfg.protocol),
            ("dataset", args.dataset, cfg.dataset),
        )
        if given is not None and given != trained
    ]
    if args.overrides or args.soft_tokens is not None or args.source_layer is not None:
        problems.append(
            "--set/--soft-tokens/--source-layer change a trained bridge's settings; they only "
            "apply with --random-weights"
        )
    if problems:
        raise CheckpointError("; ".join(problems))
    return cfg, state


# ----------------------------------------------------------------------------- command


def host_block(load_before: float) -> dict[str, Any]:
    """CPU timings on a shared machine depend on what else runs; this lets a reader judge."""
    import torch

    return {
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_before": load_before,
        "load_average_1m_after": os.getloadavg()[0],
    }


def warn_if_oversubscribed(device) -> float:
    """The 1-minute load before timing; warns when CPU threads outnumber idle cores."""
    import torch

    load_before = os.getloadavg()[0]
    if device.type == "cpu" and torch.get_num_threads() > 1 and load_before > (os.cpu_count() or 1):
        # On the 2-core dev box (small pair, batch 1): 2 threads at load 7.7 gave a median 8.2 s
        # per bridge run, 1 thread at load 3.4 gave 0.7 s. With more runnable threads than
        # cores, OpenMP threads wait at every op's barrier for a descheduled sibling.
        log.warning(
            "CPU load %.1f exceeds %d cores with %d torch threads: timings will be inflated "
            "by thread contention; --threads 1 is steadier on a shared machine",
            load_before,
            os.cpu_count(),
            torch.get_num_threads(),
        )
    return load_before


def run_benchmark_latency(args: argparse.Namespace) -> int:
    """Check everything, load the pair (or build it random), time every method, write JSON."""
    from telepathy.data.snapshot import data_provenance
    from telepathy.framing import Framing
    from telepathy.latency.harness import LatencyHarness, run_benchmark
    from telepathy.latency.timing import MemoryProbe
    from telepathy.latency.weights import load_pair_and_bridge
    from telepathy.models.run_inputs import load_eval_examples
    from telepathy.results.latency_record import build_latency_record, write_latency
    from telepathy.results.provenance import collect_provenance, utc_now
    from telepathy.results.run_record import device_name
    from telepathy.rng import seed_everything

    started_at, clock = utc_now(), time.perf_counter()
    settings = check_settings(args)
    cfg, state = resolve_weights(args)
    models = model_source(args)
    data = data_snapshot(args, cfg.dataset)
    spec, examples, _ = load_eval_examples(cfg, data)
    examples = examples[: args.n_examples]
    if len(examples) < max(settings.batch_sizes):
        raise LatencyArgumentError(
            f"--batch-sizes: the eval split of {cfg.dataset!r} has {len(examples)} examples, "
            f"fewer than batch size {max(settings.batch_sizes)}"
        )
    seed_everything(cfg.seed)  # the random bridge's initialisation
    pair, bridge, mode = load_pair_and_bridge(cfg, state, args.checkpoint, models)
    bridge.eval().requires_grad_(False)
    framing = Framing(cfg, spec, pair.sender.tokenizer, pair.receiver.tokenizer, stage="eval")
    load_s = time.perf_counter() - clock
    load_before = warn_if_oversubscribed(models.device)
    harness = LatencyHarness(pair, framing, bridge, settings)
    memory = MemoryProbe(models.device)
    log.info(
        "timing %s on %s: batch sizes %s, %d warm-up + %d trials, %d answer tokens",
        ", ".join(settings.methods),
        models.device,
        settings.batch_sizes,
        settings.warmup,
        settings.trials,
        settings.decode_tokens,
    )
    measurements = run_benchmark(harness, examples, memory, log=log.info)
    record = build_latency_record(
        cfg=cfg,
        harness=harness,
        mode=mode,
        n_examples=len(examples),
        memory_description=memory.description,
        host=host_block(load_before),
        measurements=measurements,
        timings={"wall_s": time.perf_counter() - clock, "load_s": load_s},
        provenance=collect_provenance(
            config_sha256=cfg.digest(),
            started_at=started_at,
            ended_at=utc_now(),
            device=device_name(models.device),
            data=data_provenance(cfg.dataset, data),
        ),
    )
    write_latency(args.out, record)
    log.info("wrote %s", args.out)
    return 0


def add_benchmark_train(p: argparse.ArgumentParser) -> None:
    add_weights(p)
    p.add_argument("--batch-size", type=int, help="examples per step (default: the run's)")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument(
        "--n-examples", type=int, default=64, help="eval examples cycled through as inputs"
    )
    p.add_argument(
        "--sender-cache",
        action="store_true",
        help="read the sender's states from a cache of the examples (built first, as "
        "cache-sender-states does; the sender is then dropped), as `train --sender-cache` does",
    )
    p.add_argument("--out", type=Path, help="output: the breakdown as JSON (optional)")
    add_runtime(p)


def run_benchmark_train(args: argparse.Namespace) -> int:
    """A training step's parts beside the FLOP floor of each (latency/train_step.py)."""

    import tempfile

    import torch

    from telepathy.framing import Framing
    from telepathy.latency.train_step import (
        format_breakdown,
        measure_train_step,
        with_cached_sender,
    )
    from telepathy.latency.weights import load_pair_and_bridge
    from telepathy.models.run_inputs import load_eval_examples
    from telepathy.results.atomic import atomic_write_json
    from telepathy.rng import seed_everything

    problems = [
        f"{name}: {value} must be >= {minimum}"
        for name, value, minimum in (
            ("--steps", args.steps, 1),
            ("--warmup", args.warmup, 0),
            ("--n-examples", args.n_examples, 1),
            ("--batch-size", args.batch_size or 1, 1),
        )
        if value < minimum
    ]
    if problems:
        raise LatencyArgumentError("; ".join(problems))
    cfg, state = resolve_weights(args)
    models = model_source(args)
    spec, examples, _ = load_eval_examples(cfg, data_snapshot(args, cfg.dataset))
    examples = examples[: args.n_examples]
    seed_everything(cfg.seed)
    pair, bridge, mode = load_pair_and_bridge(cfg, state, args.checkpoint, models)
    framing = Framing(cfg, spec, pair.sender.tokenizer, pair.receiver.tokenizer, stage="train")
    warn_if_oversubscribed(models.device)
    with tempfile.TemporaryDirectory(prefix="telepathy-sender-cache-") as folder:
        if args.sender_cache:
            pair = with_cached_sender(pair, framing, examples, Path(folder))
            if models.device.type == "cuda":
                torch.cuda.empty_cache()  # the sender's weights are gone: give their memory back
        result = measure_train_step(
            pair,
            framing,
            bridge,
            examples,
            batch_size=args.batch_size or cfg.batch_size,
            steps=args.steps,
            warmup=args.warmup,
        )
    print(format_breakdown(result))
    if args.out:
        payload = {"pair": cfg.pair, "weights": mode, "sender_cache": args.sender_cache}
        atomic_write_json(args.out, {**payload, **result.to_dict()})
        log.info("wrote %s", args.out)
    return 0


COMMANDS = (
    Command(
        "benchmark-latency",
        "latency, throughput and memory: bridge vs text relay vs direct text",
        add_benchmark_latency,
        run_benchmark_latency,
    ),
    Command(
        "benchmark-train",
        "one training step in parts (sender, bridge, receiver, optimiser) beside its FLOP floor",
        add_benchmark_train,
        run_benchmark_train,
    ),
)
