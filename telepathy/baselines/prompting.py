"""Prompting baselines: zero-shot and few-shot on one model, and text relay (sender -> receiver).

Each run loads only the models its method reads (a zero-shot sender run never loads the
receiver), generates greedily from text prompts, and scores the outputs with the bridge's own
scorer (evaluate.score_predictions), so baselines and bridge share one parser and one result
schema with per-item samples for McNemar pairing. Text relay keeps every summary in its sample
and reports the receiver's parse-failure rate as `invalid_rate` (pitfall 12).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from telepathy.baselines.demonstrations import select_demonstrations
from telepathy.baselines.prompt_templates import (
    few_shot_prompt,
    relay_prompt,
    summary_prompt,
    task_prompts,
    zero_shot_prompt,
)
from telepathy.baselines.prompting_config import PromptingConfig
from telepathy.baselines.prompting_record import build_prompting_record, prompting_hyperparameters
from telepathy.data import DatasetSpec, DataSnapshot, Example, get_dataset, load_examples
from telepathy.data.snapshot import data_provenance
from telepathy.evaluate import score_predictions
from telepathy.experiment.pairs import get_pair
from telepathy.models.frozen_prefix import cache_keyword, for_batch, prefix_cache
from telepathy.models.lms import LoadedLM, load_lm, read_models_manifest
from telepathy.models.run_inputs import ModelSource
from telepathy.results.progress import progress as progress_over
from telepathy.results.provenance import utc_now

log = logging.getLogger("telepathy")


# ----------------------------------------------------------------------------- generation


@dataclass
class Generated:
    """Greedy completions of a list of prompts, in prompt order."""

    texts: list[str]
    prompt_tokens: list[int]
    seconds: float


def _encode(lm: LoadedLM, prompt: str, chat_template: bool) -> list[int]:
    tokenizer = lm.tokenizer
    if not chat_template:
        # Raw text with the tokenizer's own special tokens (BOS where it adds one), as the
        # original prompted both models (method.md §5.1).
        return tokenizer(prompt).input_ids
    if not tokenizer.chat_template:
        raise ValueError(
            f"chat_template=true but {lm.spec.key}'s tokenizer has no chat template; "
            "run with --set chat_template=false"
        )
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    return tokenizer(text, add_special_tokens=False).input_ids  # the template holds them


def generate_greedy(
    lm: LoadedLM,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    chat_template: bool = False,
    progress: bool = False,
    desc: str = "generate",
) -> Generated:
    """Greedy completions, decoded without special tokens and stripped.

    Prompts are batched by length (left padding, masked) to waste little compute on padding;
    the results come back in prompt order. The tokens every prompt begins with (a few-shot
    prompt's instruction and demonstrations, a zero-shot prompt's instruction) are read once:
    their keys and values are the model's cache for every batch, which then holds
    [shared prefix ++ padding ++ each prompt's own tokens]; positions come from the attention
    mask, so each row sees what it sees when read whole. On the small pair (200 items, one
    thread) the 5-shot receiver generated in 19.9 s instead of 67.7 s, the 5-shot sender in
    23.3 s instead of 66.6 s, the zero-shot ones 10 % faster, every output the same
    (tests/baselines/test_prompting.py).
    """
    from transformers import GenerationConfig

    started = time.perf_counter()
    tokenizer, model = lm.tokenizer, lm.model
    encoded = [_encode(lm, p, chat_template) for p in prompts]
    context = getattr(model.config, "max_position_embeddings", None)
    longest = max((len(ids) for ids in encoded), default=0)
    if context is not None and longest + max_new_tokens > context:
        raise ValueError(
            f"a prompt of {longest} tokens plus {max_new_tokens} new tokens exceeds "
            f"{lm.spec.key}'s context of {context} positions; lower input_max_tokens or shots "
            "with --set / --shots"
        )
    generation = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    texts: list[str] = [""] * len(encoded)
    starts = range(0, len(order), batch_size)
    # every prompt keeps one token of its own: generation continues from a position it reads
    shared = shared_prefix_length(encoded, keep=1)
    with torch.inference_mode():
        cache = prefix_ids = None
        if shared:
            cache = prefix_cache(model, encoded[0][:shared], device)
            prefix_ids = torch.tensor([encoded[0][:shared]], device=device)  # (1, C)
        for start in progress_over(starts, desc=desc, unit="batch", enabled=progress):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad(
                {"input_ids": [encoded[i][shared:] for i in rows]},
                padding=True,
                padding_side="left",  # decoder-only generation continues from the right edge
                return_tensors="pt",
            ).to(device)
            if cache is not None:
                prefix = prefix_ids.expand(len(rows), -1)  # (B, C)
                batch = {
                    "input_ids": torch.cat([prefix, batch["input_ids"]], dim=1),
                    "attention_mask": torch.cat(
                        [torch.ones_like(prefix), batch["attention_mask"]], dim=1
                    ),
                    cache_keyword(model): for_batch(cache, len(rows)),
                }
            output = model.generate(**batch, generation_config=generation)
            new_tokens = output[:, batch["input_ids"].shape[1] :]  # (B, <= max_new_tokens)
            decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, text in zip(rows, decoded, strict=True):
                texts[i] = text.strip()
    return Generated(texts, [len(ids) for ids in encoded], time.perf_counter() - started)


def shared_prefix_length(sequences: Sequence[Sequence[int]], keep: int = 0) -> int:
    """How many leading tokens all `sequences` share, leaving at least `keep` of the shortest."""
    if not sequences:
        return 0
    shared = 0
    for column in zip(*sequences, strict=False):  # stops at the shortest
        if len(set(column)) > 1:
            break
        shared += 1
    return max(0, min(shared, min(len(s) for s in sequences) - keep))


# ----------------------------------------------------------------------------- the run


@dataclass
class PromptingOutcome:
    """Metrics and per-item samples of one run, plus what the models were shown."""

    metrics: dict[str, Any]
    samples: list[dict[str, Any]]
    example_prompts: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)


def truncated_fields(
    example: Example,
    lm: LoadedLM,
    truncate_field: str,
    max_tokens: int,
    max_chars: int | None = None,
) -> dict[str, str]:
    """The example's fields with `truncate_field` cut to `max_tokens` tokens of the model that
    reads it: the bridge's one rule, in tokens (pitfall 21), applied to the content only;
    first to `max_chars` characters where the faithful presets say so (as the bridge's eval)."""
    fields = dict(example.fields)
    if truncate_field not in fields:
        raise ValueError(
            f"truncate_field {truncate_field!r} is not a field of {example.uid}; it has "
            f"{', '.join(sorted(fields))}"
        )
    if max_chars is not None:
        fields[truncate_field] = fields[truncate_field][:max_chars]
    ids = lm.tokenizer(fields[truncate_field], add_special_tokens=False).input_ids
    if len(ids) > max_tokens:
        fields[truncate_field] = lm.tokenizer.decode(ids[:max_tokens])
    return fields


def run_prompting(
    cfg: PromptingConfig,
    models: Mapping[str, LoadedLM],
    eval_examples: Sequence[Example],
    demonstrations: Sequence[Example] = (),
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> PromptingOutcome:
    """Prompt the method's model(s) on every eval item and score the answers."""
    spec = get_dataset(cfg.dataset)
    prompts = task_prompts(spec)
    family = cfg.spec.family

    def fields_for(example: Example, lm: LoadedLM) -> dict[str, str]:
        return truncated_fields(
            example, lm, cfg.truncate_field, cfg.input_max_tokens, cfg.input_max_chars
        )

    def generate(lm: LoadedLM, texts: list[str], max_new_tokens: int, desc: str) -> Generated:
        return generate_greedy(
            lm,
            texts,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            chat_template=cfg.chat_template,
            progress=progress,
            desc=desc,
        )

    summaries: Generated | None = None
    if family == "text_relay":
        sender, reader = models["sender"], models["receiver"]
        sender_prompts = [summary_prompt(prompts, fields_for(e, sender)) for e in eval_examples]
        summaries = generate(sender, sender_prompts, cfg.summary_max_new_tokens, "summarise")
        reader_prompts = [relay_prompt(prompts, spec, s) for s in summaries.texts]
        example_prompts = {"sender": sender_prompts[0], "receiver": reader_prompts[0]}
    else:
        (role,) = cfg.spec.models
        reader = models[role]
        if family == "zero_shot":
            reader_prompts = [
                zero_shot_prompt(prompts, spec, fields_for(e, reader)) for e in eval_examples
            ]
        else:
            demos = [(fields_for(d, reader), d.label) for d in demonstrations]
            reader_prompts = [
                few_shot_prompt(prompts, spec, demos, fields_for(e, reader)) for e in eval_examples
            ]
        example_prompts = {role: reader_prompts[0]}
    answers = generate(reader, reader_prompts, cfg.answer_max_new_tokens, "answer")

    metrics, samples = score_predictions(spec, eval_examples, answers.texts)
    metrics["mean_prompt_tokens"] = sum(answers.prompt_tokens) / len(answers.prompt_tokens)
    metrics["max_prompt_tokens"] = max(answers.prompt_tokens)
    timings = {"generate_s": answers.seconds}
    if summaries is not None:
        for sample, summary in zip(samples, summaries.texts, strict=True):
            sample["summary"] = summary
        metrics["n_empty_summaries"] = sum(not s for s in summaries.texts)
        metrics["mean_summary_chars"] = sum(map(len, summaries.texts)) / len(summaries.texts)
        timings = {
            "summarise_s": summaries.seconds,
            "generate_s": summaries.seconds + answers.seconds,
        }
    timings["answer_s"] = answers.seconds
    return PromptingOutcome(metrics, samples, example_prompts, timings)


# ----------------------------------------------------------------------------- data and models


def load_eval_list(
    cfg: PromptingConfig, data: DataSnapshot | None
) -> tuple[list[Example], dict[str, str]]:
    """The eval items exactly as the bridge's eval picks them (pitfall 16), and how."""
    spec = get_dataset(cfg.dataset)
    examples = load_examples(spec, "eval", snapshot=data, task_seed=cfg.task_seed)
    if cfg.eval_first_n is not None:
        examples = examples[: cfg.eval_first_n]
    missing = [e.uid for e in examples if cfg.truncate_field not in e.fields]
    if missing:  # checked here so a wrong --set truncate_field fails before any model loads
        raise ValueError(
            f"truncate_field {cfg.truncate_field!r} is not a field of {missing[0]}; "
            f"{cfg.dataset} items have: {', '.join(sorted(examples[0].fields))}"
        )
    split = spec.hub.eval_split if spec.hub else "eval"
    selection = "all" if cfg.eval_first_n is None else f"first {cfg.eval_first_n}"
    return examples, {"split": split, "selection": selection}


def draw_demonstrations(
    cfg: PromptingConfig,
    spec: DatasetSpec,
    data: DataSnapshot | None,
    eval_examples: list[Example],
) -> tuple[list[Example], int]:
    """The seed's k demonstrations from the train split, and the train split's size."""
    train = load_examples(
        spec, "train", snapshot=data, n_generated=cfg.train_size, task_seed=cfg.task_seed
    )
    demos = select_demonstrations(spec, train, eval_examples, cfg.shots, cfg.seed)
    if spec.num_classes is not None and cfg.shots < spec.num_classes:
        log.warning(
            "k=%d < %d classes: some classes get no demonstration", cfg.shots, spec.num_classes
        )
    return demos, len(train)


def load_models(
    cfg: PromptingConfig, device: torch.device, cache_dir: Path | None, models: Path | None
) -> dict[str, LoadedLM]:
    """Load only the roles the method reads (from the prepare-models manifest `models`, when
    given); the other model is never touched."""
    pair = get_pair(cfg.pair)
    specs = {"sender": pair.sender, "receiver": pair.receiver}
    prepared = read_models_manifest(models, cfg.pair) if models is not None else {}
    return {
        role: load_lm(
            specs[role],
            device=device,
            cache_root=cache_dir,
            pair_name=cfg.pair,
            prepared=prepared.get(role),
        )
        for role in cfg.spec.models
    }


# ----------------------------------------------------------------------------- the job


def run_prompting_baseline(
    cfg: PromptingConfig,
    data: DataSnapshot | None,
    models_from: ModelSource,
    *,
    batch_size: int,
    progress: bool,
    started_at: datetime,
) -> dict[str, Any]:
    """One prompting baseline from its resolved settings: load the eval list, draw the
    demonstrations (a bad k fails here, before any model loads), load the models, run, and
    return the eval record (the caller writes it with run_record.write_record)."""
    clock = time.perf_counter()
    spec = get_dataset(cfg.dataset)
    eval_examples, eval_desc = load_eval_list(cfg, data)
    demos: list[Example] = []
    n_train = None
    if cfg.spec.family == "few_shot":
        demos, n_train = draw_demonstrations(cfg, spec, data, eval_examples)
    device = models_from.device
    models = load_models(cfg, device, models_from.cache_dir, models_from.manifest)
    load_s = time.perf_counter() - clock
    outcome = run_prompting(
        cfg, models, eval_examples, demos, batch_size=batch_size, progress=progress
    )
    timings = {
        "wall_s": time.perf_counter() - clock,
        "load_s": load_s,
        **outcome.timings,
        **{f"{role}_load_s": lm.load_seconds for role, lm in models.items()},
    }
    return build_prompting_record(
        cfg,
        models,
        device,
        prompting_hyperparameters(cfg, spec, outcome.example_prompts, demos, n_train),
        outcome.metrics,
        outcome.samples,
        eval_desc,
        timings,
        started_at,
        utc_now(),
        data_provenance(cfg.dataset, data),
    )
