"""The resolved settings of one bridge run, built from protocol + pair + dataset + overrides.

Everything a run depends on lives in one frozen `RunConfig`; its digest goes into every result
and checkpoint, so a resumed or evaluated run can prove it used the same settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from telepathy.data import get_dataset
from telepathy.experiment.pairs import get_pair, scale_layer
from telepathy.experiment.protocols import dataset_settings, get_protocol
from telepathy.results.provenance import config_digest

BRIDGE_DTYPES = ("auto", "float32", "bfloat16")
# bridge.make_bridge builds each; perceiver (method.md §1) is the default, mlp and linear are the
# exp003 ablation (§1.4).
BRIDGE_ARCHITECTURES = ("perceiver", "mlp", "linear")

# Settings added after runs were already recorded, with the value every earlier run used. At that
# value a setting stays out of the digest, so earlier runs keep theirs (the workflow retrains
# nothing and old checkpoints still resume), and a saved config without it reads as that value.
LATER_SETTINGS: dict[str, Any] = {
    "bridge_architecture": "perceiver",
    "truncate_chars": None,
    "eval_truncate_chars": None,
}


class ConfigError(ValueError):
    """Invalid run settings; the message lists every problem found."""


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one bridge training + evaluation run."""

    protocol: str
    pair: str
    dataset: str
    seed: int
    soft_tokens: int
    source_layer: int  # hidden_states index of the sender (0 = embeddings)
    steps: int
    lr: float
    weight_decay: float
    batch_size: int
    grad_accum: int
    drop_last: bool
    grad_clip: float
    diversity_weight: float
    eval_every: int
    quick_eval_n: int
    eval_first_n: int | None
    sender_template: str
    truncate_field: str
    sender_max_tokens: int
    primer: str
    answer_leading_space: bool
    max_new_tokens: int
    scale_init_factor: float
    normalize_sender: bool
    bridge_dtype: str
    bridge_architecture: str = "perceiver"  # one of BRIDGE_ARCHITECTURES
    depth: int = 2
    n_heads: int = 8
    ffn_mult: int = 4
    checkpoint_every: int = 500  # the original saved a state_dict every 500 steps
    train_size: int | None = None  # generated tasks: number of train items (None = default)
    task_seed: int = 0  # generated tasks: the data seed, fixed across training seeds
    # Characters of truncate_field kept before the token rule (the faithful presets; None:
    # tokens only): in training and quick evals, and (eval_ None: the same) the final eval.
    truncate_chars: int | None = None
    eval_truncate_chars: int | None = None

    def char_limit(self, stage: str) -> int | None:
        """Characters of the truncated field a `stage` ("train" | "eval") keeps, or None."""
        if stage not in ("train", "eval"):
            raise ValueError(f"unknown stage {stage!r}; expected train or eval")
        if stage == "eval" and self.eval_truncate_chars is not None:
            return self.eval_truncate_chars
        return self.truncate_chars

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of each setting; LATER_SETTINGS at old values left out."""
        values = {
            name: value
            for name, value in self.to_dict().items()
            if not (name in LATER_SETTINGS and value == LATER_SETTINGS[name])
        }
        return config_digest(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        return cls(**with_later_settings(values))


def with_later_settings(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config's values, with LATER_SETTINGS it predates filled in at their old value."""
    return {**LATER_SETTINGS, **values}


# Keys a caller may override (CLI --set, workflow config); identity keys are separate arguments.
OVERRIDABLE = tuple(
    f.name for f in dataclasses.fields(RunConfig) if f.name not in ("protocol", "pair", "dataset")
)


def coerce_override(name: str, value: Any, template: Any) -> Any:
    """Parse a string override into the type of the field it replaces."""
    if not isinstance(value, str):
        return value
    if isinstance(template, bool):
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if value.lower() == "none":
        return None
    for kind in (int, float):
        if isinstance(template, kind) or (template is None and kind is int):
            try:
                return kind(value)
            except ValueError:
                raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}") from None
    return value


def resolve_run_config(
    *,
    protocol: str,
    pair: str,
    dataset: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Combine a protocol preset with a pair and dataset, apply overrides, validate everything."""
    problems: list[str] = []
    try:
        proto = get_protocol(protocol)
    except ValueError as err:
        problems.append(str(err))
    try:
        pair_spec = get_pair(pair)
    except ValueError as err:
        problems.append(str(err))
    try:
        data_spec = get_dataset(dataset)
    except ValueError as err:
        problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))
    settings = dataset_settings(proto, dataset, data_spec.analogue)
    depth = pair_spec.sender.n_layers
    layer = (
        pair_spec.default_source_layer
        if settings.source_layer is None
        else scale_layer(settings.source_layer, depth)
    )
    values: dict[str, Any] = dict(
        protocol=protocol,
        pair=pair,
        dataset=dataset,
        seed=seed,
        source_layer=layer,
        weight_decay=proto.weight_decay,
        grad_clip=proto.grad_clip,
        diversity_weight=proto.diversity_weight,
        normalize_sender=proto.normalize_sender,
        bridge_dtype=proto.bridge_dtype,
    )
    values.update({k: v for k, v in dataclasses.asdict(settings).items() if k != "source_layer"})
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    for name, raw in (overrides or {}).items():
        if name not in OVERRIDABLE:
            problems.append(
                f"unknown setting {name!r}; settings that can be set: {', '.join(OVERRIDABLE)}"
            )
            continue
        template = values.get(name, defaults.get(name))
        try:
            values[name] = coerce_override(name, raw, template)
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError("; ".join(problems))
    cfg = RunConfig(**values)
    problems = validate_run_config(cfg, sender_depth=depth)
    if problems:
        raise ConfigError("; ".join(problems))
    return cfg


def validate_run_config(cfg: RunConfig, *, sender_depth: int) -> list[str]:
    """Every range problem of a resolved config, each naming the setting and what is allowed."""
    problems = []

    def at_least(name: str, minimum: float) -> None:
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < minimum:
            problems.append(f"{name} must be a number >= {minimum}, got {value!r}")

    for name in (
        "soft_tokens",
        "steps",
        "batch_size",
        "grad_accum",
        "sender_max_tokens",
        "max_new_tokens",
        "depth",
        "n_heads",
        "ffn_mult",
        "checkpoint_every",
    ):
        at_least(name, 1)
    for name in (
        "seed",
        "eval_every",
        "quick_eval_n",
        "task_seed",
        "weight_decay",
        "diversity_weight",
        "grad_clip",
    ):
        at_least(name, 0)
    if not (isinstance(cfg.lr, (int, float)) and cfg.lr > 0):
        problems.append(f"lr must be > 0, got {cfg.lr!r}")
    if not (isinstance(cfg.scale_init_factor, (int, float)) and cfg.scale_init_factor > 0):
        problems.append(f"scale_init_factor must be > 0, got {cfg.scale_init_factor!r}")
    if not isinstance(cfg.source_layer, int) or not 0 <= cfg.source_layer <= sender_depth:
        problems.append(
            f"source_layer {cfg.source_layer!r} is beyond the sender's depth: pair {cfg.pair!r} "
            f"has {sender_depth} blocks, so valid hidden_states indices are 0..{sender_depth}"
        )
    for name in ("eval_first_n", "train_size", "truncate_chars", "eval_truncate_chars"):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < 1):
            problems.append(f"{name} must be a positive integer or none, got {value!r}")
    if cfg.bridge_dtype not in BRIDGE_DTYPES:
        problems.append(f"bridge_dtype must be one of {BRIDGE_DTYPES}, got {cfg.bridge_dtype!r}")
    if cfg.bridge_architecture not in BRIDGE_ARCHITECTURES:
        problems.append(
            f"bridge_architecture must be one of {BRIDGE_ARCHITECTURES}, "
            f"got {cfg.bridge_architecture!r}"
        )
    if "{" + cfg.truncate_field + "}" not in cfg.sender_template:
        problems.append(
            f"truncate_field {cfg.truncate_field!r} does not appear in sender_template "
            f"{cfg.sender_template!r}"
        )
    return problems
