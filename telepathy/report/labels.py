"""Canonical order and display names of datasets, methods and pairs: every table sorts alike.

Orders follow the paper's tables (method.md §7.3): datasets in the order the paper reports
them, then the offline stand-ins, then anything else alphabetically; methods from the weakest
control to the bridge, which always comes last.
"""

from __future__ import annotations

from collections.abc import Iterable

from telepathy.experiment.pairs import PAIRS

DATASET_ORDER = (
    "sst2",
    "agnews",
    "trec",
    "banking77",
    "boolq",
    "piqa",
    "commonsenseqa",
    "gsm8k",
    "passkey",
    "synth_sentiment",
    "synth_topic",
    "synth_qtype",
)
DATASET_NAMES = {
    "sst2": "SST-2",
    "agnews": "AG News",
    "trec": "TREC",
    "banking77": "Banking77",
    "boolq": "BoolQ",
    "piqa": "PIQA",
    "commonsenseqa": "CommonsenseQA",
    "gsm8k": "GSM8K",
    "passkey": "Passkey",
    "synth_sentiment": "Synth. sentiment",
    "synth_topic": "Synth. topic",
    "synth_qtype": "Synth. question type",
}

# method.md §7.3; Random is not a run (it is computed from the label count), so not listed.
METHOD_ORDER = (
    "prompt_tuning_control",
    "prompt_tuning",
    "zero_shot_sender",
    "zero_shot_receiver",
    "few_shot_sender",
    "few_shot_receiver",
    "text_relay",
    "probe",
    "lora",
    "noise",
    "bridge",
)
# Pairs vary (paper, small, tiny), so names say sender/receiver, never a model family.
METHOD_NAMES = {
    "prompt_tuning_control": "Prompt tuning, no text",
    "prompt_tuning": "Prompt tuning",
    "zero_shot_sender": "Sender 0-shot",
    "zero_shot_receiver": "Receiver 0-shot",
    "few_shot_sender": "Sender few-shot",
    "few_shot_receiver": "Receiver few-shot",
    "text_relay": "Text relay",
    "probe": "Linear probe (sender)",
    "lora": "LoRA (receiver)",
    "noise": "Noise soft tokens",
    "bridge": "Bridge (ours)",
}
RANDOM_NAME = "Random"


def _rank(order: tuple[str, ...], name: str) -> tuple[int, int, str]:
    return (0, order.index(name), "") if name in order else (1, 0, name)


def order_datasets(names: Iterable[str]) -> list[str]:
    """Distinct dataset names in the paper's order; unknown ones after, alphabetically."""
    return sorted(set(names), key=lambda d: _rank(DATASET_ORDER, d))


def order_methods(names: Iterable[str]) -> list[str]:
    """Distinct methods in method.md §7.3's order; unknown ones before the bridge."""

    def key(m: str) -> tuple[int, int, str]:
        if m == "bridge":
            return (2, 0, "")
        return _rank(METHOD_ORDER, m)

    return sorted(set(names), key=key)


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def bridge_name(soft_tokens: int | None) -> str:
    """'Bridge (ours)' when the main study has one K per dataset, else 'Bridge, 8 tok'."""
    return METHOD_NAMES["bridge"] if soft_tokens is None else f"Bridge, {soft_tokens} tok"


def pair_description(pair: str) -> str:
    """'pair paper: sender meta-llama/Llama-3.1-8B-Instruct, receiver mistralai/...'."""
    spec = PAIRS.get(pair)
    if spec is None:
        return f"pair {pair}"
    return f"pair {pair}: sender {spec.sender.model_id}, receiver {spec.receiver.model_id}"
