"""Settings of a prompting-baseline run: the method, k, generation lengths, and the eval list.

The eval list (eval_first_n, task_seed) and the input truncation (truncate_field to
sender_max_tokens tokens) come from the same protocol preset as the bridge run, so both are
scored on the identical items (pitfall 16) with the same amount of text (pitfalls 2 and 21).
Every problem is collected and reported at once, before any data or model is loaded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from telepathy.data import get_dataset
from telepathy.experiment.config import (
    OVERRIDABLE,
    ConfigError,
    coerce_override,
    resolve_run_config,
)
from telepathy.results.provenance import config_digest


@dataclass(frozen=True)
class MethodSpec:
    """What a prompting method runs: its prompt family and the models it loads."""

    family: str  # zero_shot | few_shot | text_relay
    models: tuple[str, ...]  # roles loaded, in order; nothing else is touched


METHODS: dict[str, MethodSpec] = {
    "zero_shot_sender": MethodSpec("zero_shot", ("sender",)),
    "zero_shot_receiver": MethodSpec("zero_shot", ("receiver",)),
    "few_shot_sender": MethodSpec("few_shot", ("sender",)),
    "few_shot_receiver": MethodSpec("few_shot", ("receiver",)),
    "text_relay": MethodSpec("text_relay", ("sender", "receiver")),
}
# `few_shot` alone means the receiver, the model the bridge feeds (the paper's "Mistral 5-shot").
METHOD_ALIASES = {"few_shot": "few_shot_receiver"}
METHOD_CHOICES = (*METHODS, *METHOD_ALIASES)

DEFAULT_SHOTS = 5  # method.md §5.2
SUMMARY_MAX_NEW_TOKENS = 50  # method.md §5.3, both eras
# method.md §5.1 (zero-shot 20 new tokens), §5.2 (few-shot 10), §5.3 (relay receiver 10);
# GSM8K 150 and passkey 10 (§4) whatever the method.
ANSWER_MAX_NEW_TOKENS = {"zero_shot": 20, "few_shot": 10, "text_relay": 10}
TASK_ANSWER_MAX_NEW_TOKENS = {"numeric": 150, "passkey": 10}


@dataclass(frozen=True)
class PromptingConfig:
    """Every setting of one prompting-baseline run."""

    method: str
    protocol: str
    pair: str
    dataset: str
    seed: int
    shots: int  # k demonstrations; 0 for zero-shot and text relay
    answer_max_new_tokens: int
    summary_max_new_tokens: int | None  # text relay only
    chat_template: bool  # the original prompted raw text (method.md §5.1)
    input_max_tokens: int  # truncate_field is cut to this many tokens of the reading model
    truncate_field: str
    eval_first_n: int | None
    task_seed: int
    train_size: int | None  # generated tasks: size of the demonstration pool
    # the faithful presets' character cut of truncate_field before the tokens (the bridge's
    # final-eval cut, RunConfig.char_limit("eval")); None: tokens only
    input_max_chars: int | None = None

    @property
    def spec(self) -> MethodSpec:
        return METHODS[self.method]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of every setting; settings added after runs were
        recorded stay out of it at the value those runs used (as RunConfig.digest)."""
        return config_digest(
            {
                name: value
                for name, value in self.to_dict().items()
                if not (name in LATER_SETTINGS and value == LATER_SETTINGS[name])
            }
        )


LATER_SETTINGS: dict[str, Any] = {"input_max_chars": None}
_IDENTITY = ("method", "protocol", "pair", "dataset", "seed")
SETTABLE = tuple(f.name for f in dataclasses.fields(PromptingConfig) if f.name not in _IDENTITY)


def canonical_method(method: str) -> str:
    """The method's canonical name (aliases resolved), or a ConfigError listing valid ones."""
    name = METHOD_ALIASES.get(method, method)
    if name not in METHODS:
        raise ConfigError(
            f"unknown prompting method {method!r}; expected one of: {', '.join(METHOD_CHOICES)}"
        )
    return name


def resolve_prompting_config(
    *,
    method: str,
    protocol: str,
    pair: str,
    dataset: str,
    seed: int,
    shots: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> PromptingConfig:
    """Combine the protocol preset with the method's defaults and overrides; check everything."""
    from telepathy.baselines.prompt_templates import task_prompts

    problems: list[str] = []
    try:
        method = canonical_method(method)
    except ConfigError as err:
        problems.append(str(err))
    try:
        base = resolve_run_config(protocol=protocol, pair=pair, dataset=dataset, seed=seed)
    except (ConfigError, ValueError) as err:
        problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))
    spec = get_dataset(dataset)
    try:
        task_prompts(spec)
    except ValueError as err:
        problems.append(str(err))
    family = METHODS[method].family
    values: dict[str, Any] = dict(
        method=method,
        protocol=protocol,
        pair=pair,
        dataset=dataset,
        seed=seed,
        shots=DEFAULT_SHOTS if family == "few_shot" else 0,
        answer_max_new_tokens=TASK_ANSWER_MAX_NEW_TOKENS.get(
            spec.task_type, ANSWER_MAX_NEW_TOKENS[family]
        ),
        summary_max_new_tokens=SUMMARY_MAX_NEW_TOKENS if family == "text_relay" else None,
        chat_template=False,
        input_max_tokens=base.sender_max_tokens,
        truncate_field=base.truncate_field,
        eval_first_n=base.eval_first_n,
        task_seed=base.task_seed,
        train_size=base.train_size,
        input_max_chars=base.char_limit("eval"),
    )
    requested = dict(overrides or {})
    if shots is not None:
        requested["shots"] = shots
    for name, raw in requested.items():
        if name not in SETTABLE:
            why = "is a bridge setting that " if name in OVERRIDABLE else "is not a setting "
            problems.append(
                f"{name!r} {why}prompting baselines do not use; settings they take: "
                f"{', '.join(SETTABLE)}"
            )
            continue
        try:
            values[name] = coerce_override(name, raw, values[name])
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))
    cfg = PromptingConfig(**values)
    problems = validate_prompting_config(cfg)
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_prompting_config(cfg: PromptingConfig) -> list[str]:
    """Every range problem of a resolved config, each naming the value and what is allowed."""
    problems: list[str] = []
    family = cfg.spec.family
    if not _is_int(cfg.shots) or cfg.shots < 0:
        problems.append(f"shots (k) must be an integer >= 0, got {cfg.shots!r}")
    elif family == "few_shot" and cfg.shots == 0:
        problems.append(
            f"{cfg.method} needs k >= 1 demonstrations, got k=0 (the original TREC '5-shot' "
            "silently had 0, method.md pitfall 11); use zero_shot_* for no demonstrations"
        )
    elif family != "few_shot" and cfg.shots != 0:
        problems.append(
            f"shots (k) only applies to few_shot_sender / few_shot_receiver; {cfg.method} got "
            f"k={cfg.shots}"
        )
    for name in ("answer_max_new_tokens", "input_max_tokens"):
        value = getattr(cfg, name)
        if not _is_int(value) or value < 1:
            problems.append(f"{name} must be an integer >= 1, got {value!r}")
    if family == "text_relay":
        value = cfg.summary_max_new_tokens
        if not _is_int(value) or value < 1:
            problems.append(f"summary_max_new_tokens must be an integer >= 1, got {value!r}")
    elif cfg.summary_max_new_tokens is not None:
        problems.append(
            f"summary_max_new_tokens only applies to text_relay; {cfg.method} got "
            f"{cfg.summary_max_new_tokens!r}"
        )
    if not isinstance(cfg.chat_template, bool):
        problems.append(f"chat_template must be true or false, got {cfg.chat_template!r}")
    for name in ("eval_first_n", "train_size", "input_max_chars"):
        value = getattr(cfg, name)
        if value is not None and (not _is_int(value) or value < 1):
            problems.append(f"{name} must be a positive integer or none, got {value!r}")
    if not _is_int(cfg.task_seed) or cfg.task_seed < 0:
        problems.append(f"task_seed must be an integer >= 0, got {cfg.task_seed!r}")
    return problems
