"""Dataset registry: where each task comes from, its labels and the words the receiver must say."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

TASK_TYPES = ("classification", "multiple_choice", "numeric", "passkey")

# The parquet exports of the script datasets always live on this ref (method.md pitfall 24).
PARQUET_EXPORT = "refs/convert/parquet"
MAIN = "main"


@dataclass(frozen=True)
class Example:
    """One normalised example: a stable id, named text fields and the canonical gold label."""

    uid: str
    fields: Mapping[str, str]
    label: str


@dataclass(frozen=True)
class HubSource:
    """Where a real dataset lives on the Hugging Face hub and which splits the protocol uses."""

    path: str
    config: str | None  # the dataset's config (subset) name, as its card gives it
    revision: str  # a branch or ref; prepare-data resolves it to a commit sha
    train_split: str
    eval_split: str
    # Split name -> glob of its parquet files inside the repo at `revision`: prepare-data
    # downloads exactly these into the data snapshot (hub-readiness.md for the layouts).
    files: Mapping[str, str]
    # Column holding the integer class; with class_names, the loader checks a ClassLabel's order.
    label_column: str | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        missing = [s for s in (self.train_split, self.eval_split) if s not in self.files]
        if missing:
            raise ValueError(
                f"{self.path}: no file glob for split(s) {missing}; expected keys "
                f"{self.train_split!r} and {self.eval_split!r} in `files`"
            )

    def split_name(self, split: str) -> str:
        """Map the protocol split ("train" | "eval") to this dataset's own split name."""
        if split == "train":
            return self.train_split
        if split == "eval":
            return self.eval_split
        raise ValueError(f"unknown split {split!r}; expected one of: train, eval")


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the rest of the package needs to know about one task."""

    name: str
    task_type: str
    label_names: tuple[str, ...] | None
    label_words: tuple[str, ...] | None
    label_aliases: Mapping[str, tuple[str, ...]]
    hub: HubSource | None
    generator: str | None
    analogue: str | None
    description: str

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(
                f"dataset {self.name!r}: unknown task_type {self.task_type!r}; "
                f"expected one of: {', '.join(TASK_TYPES)}"
            )
        if (self.hub is None) == (self.generator is None):
            raise ValueError(f"dataset {self.name!r}: set exactly one of hub and generator")
        if (self.label_names is None) != (self.label_words is None):
            raise ValueError(f"dataset {self.name!r}: label_names and label_words go together")
        if self.label_names is not None and len(self.label_names) != len(self.label_words or ()):
            raise ValueError(
                f"dataset {self.name!r}: {len(self.label_names)} label_names but "
                f"{len(self.label_words or ())} label_words"
            )
        unknown = set(self.label_aliases) - set(self.label_words or ())
        if unknown:
            raise ValueError(
                f"dataset {self.name!r}: aliases for unknown label words {sorted(unknown)}; "
                f"expected keys among: {', '.join(self.label_words or ())}"
            )

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or None for open-answer tasks (numeric, passkey)."""
        return None if self.label_names is None else len(self.label_names)

    def label_word(self, label: str) -> str:
        """The word the receiver must produce for a canonical gold label."""
        if self.label_names is None or self.label_words is None:
            return label  # open-answer tasks: the answer string is the target
        try:
            return self.label_words[self.label_names.index(label)]
        except ValueError:
            raise ValueError(
                f"dataset {self.name!r}: unknown label {label!r}; "
                f"expected one of: {', '.join(self.label_names)}"
            ) from None


# Published order of PolyAI/banking77's ClassLabel (spelling kept verbatim, incl. the "?").
BANKING77_INTENTS: tuple[str, ...] = (
    "activate_my_card", "age_limit", "apple_pay_or_google_pay", "atm_support",
    "automatic_top_up", "balance_not_updated_after_bank_transfer",
    "balance_not_updated_after_cheque_or_cash_deposit", "beneficiary_not_allowed",
    "cancel_transfer", "card_about_to_expire", "card_acceptance", "card_arrival",
    "card_delivery_estimate", "card_linking", "card_not_working", "card_payment_fee_charged",
    "card_payment_not_recognised", "card_payment_wrong_exchange_rate", "card_swallowed",
    "cash_withdrawal_charge", "cash_withdrawal_not_recognised", "change_pin", "compromised_card",
    "contactless_not_working", "country_support", "declined_card_payment",
    "declined_cash_withdrawal", "declined_transfer", "direct_debit_payment_not_recognised",
    "disposable_card_limits", "edit_personal_details", "exchange_charge", "exchange_rate",
    "exchange_via_app", "extra_charge_on_statement", "failed_transfer", "fiat_currency_support",
    "get_disposable_virtual_card", "get_physical_card", "getting_spare_card",
    "getting_virtual_card", "lost_or_stolen_card", "lost_or_stolen_phone", "order_physical_card",
    "passcode_forgotten", "pending_card_payment", "pending_cash_withdrawal", "pending_top_up",
    "pending_transfer", "pin_blocked", "receiving_money", "Refund_not_showing_up",
    "request_refund", "reverted_card_payment?", "supported_cards_and_currencies",
    "terminate_account", "top_up_by_bank_transfer_charge", "top_up_by_card_charge",
    "top_up_by_cash_or_cheque", "top_up_failed", "top_up_limits", "top_up_reverted",
    "topping_up_by_card", "transaction_charged_twice", "transfer_fee_charged",
    "transfer_into_account", "transfer_not_received_by_recipient", "transfer_timing",
    "unable_to_verify_identity", "verify_my_identity", "verify_source_of_funds", "verify_top_up",
    "virtual_card_not_working", "visa_or_mastercard", "why_verify_identity",
    "wrong_amount_of_cash_received", "wrong_exchange_rate_for_cash_withdrawal",
)  # fmt: skip
if len(BANKING77_INTENTS) != 77 or len(set(BANKING77_INTENTS)) != 77:
    raise RuntimeError(f"BANKING77_INTENTS has {len(set(BANKING77_INTENTS))} names; expected 77")

SENTIMENT = ("negative", "positive")
TOPICS = ("world", "sports", "business", "science")
# TREC coarse order as published in CogComp/trec's ClassLabel; the consolidated Era-B script
# hard-coded ABBR, DESC, ENTY, ... and so swapped DESC and ENTY (method.md pitfall 24).
TREC_COARSE = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
# Era-B AG News scoring accepted these for gold "science" (method.md §4).
TOPIC_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"science": ("technology", "tech", "sci/tech", "scitech")}
)
_NO_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({})


def _banking_aliases() -> Mapping[str, tuple[str, ...]]:
    """Banking77 scoring also accepts the intent name with underscores as spaces (method.md §4)."""
    return MappingProxyType(
        {name: (name.replace("_", " "),) for name in BANKING77_INTENTS if "_" in name}
    )


def _spec(**kwargs: object) -> DatasetSpec:
    """Build a spec with empty aliases and no analogue unless given."""
    kwargs.setdefault("label_aliases", _NO_ALIASES)
    kwargs.setdefault("analogue", None)
    kwargs.setdefault("hub", None)
    kwargs.setdefault("generator", None)
    return DatasetSpec(**kwargs)  # type: ignore[arg-type]


_SPECS: tuple[DatasetSpec, ...] = (
    _spec(
        name="sst2",
        task_type="classification",
        label_names=SENTIMENT,
        label_words=SENTIMENT,
        # glue's canonical home; the bare id "glue" redirects here.
        hub=HubSource(
            path="nyu-mll/glue",
            config="sst2",
            revision=MAIN,
            train_split="train",
            eval_split="validation",
            files={
                "train": "sst2/train-*.parquet",
                "validation": "sst2/validation-*.parquet",
            },
            label_column="label",
            class_names=SENTIMENT,
        ),
        description="SST-2 movie-review sentiment (GLUE); eval on validation (872).",
    ),
    _spec(
        name="agnews",
        task_type="classification",
        label_names=TOPICS,
        label_words=TOPICS,
        label_aliases=TOPIC_ALIASES,
        hub=HubSource(
            path="fancyzhx/ag_news",
            config="default",
            revision=MAIN,
            train_split="train",
            eval_split="test",
            files={"train": "data/train-*.parquet", "test": "data/test-*.parquet"},
            label_column="label",
            class_names=("World", "Sports", "Business", "Sci/Tech"),
        ),
        description="AG News 4-way topic; eval on test (7,600).",
    ),
    _spec(
        name="trec",
        task_type="classification",
        label_names=TREC_COARSE,
        label_words=TREC_COARSE,
        hub=HubSource(
            path="CogComp/trec",
            config="default",
            revision=PARQUET_EXPORT,
            train_split="train",
            eval_split="test",
            files={"train": "default/train/*.parquet", "test": "default/test/*.parquet"},
            label_column="coarse_label",
            class_names=TREC_COARSE,
        ),
        description="TREC question classification, 6 coarse types; eval on test (500).",
    ),
    _spec(
        name="banking77",
        task_type="classification",
        label_names=BANKING77_INTENTS,
        label_words=BANKING77_INTENTS,
        label_aliases=_banking_aliases(),
        hub=HubSource(
            path="PolyAI/banking77",
            config="default",
            revision=PARQUET_EXPORT,
            train_split="train",
            eval_split="test",
            files={"train": "default/train/*.parquet", "test": "default/test/*.parquet"},
            label_column="label",
            class_names=BANKING77_INTENTS,
        ),
        description="Banking77 intent detection, 77 intents; eval on test (3,080).",
    ),
    _spec(
        name="boolq",
        task_type="multiple_choice",
        label_names=("No", "Yes"),
        label_words=("No", "Yes"),
        hub=HubSource(
            path="google/boolq",
            config="default",
            revision=MAIN,
            train_split="train",
            eval_split="validation",
            files={"train": "data/train-*.parquet", "validation": "data/validation-*.parquet"},
        ),
        description="BoolQ yes/no reading comprehension over a passage; eval on validation.",
    ),
    _spec(
        name="piqa",
        task_type="multiple_choice",
        label_names=("1", "2"),
        label_words=("1", "2"),
        hub=HubSource(
            path="ybisk/piqa",
            # The card's config is plain_text; on the export branch the folder keeps that name
            # while `datasets` calls the config "default" (hub-readiness.md, PIQA row).
            config="plain_text",
            revision=PARQUET_EXPORT,
            train_split="train",
            eval_split="validation",
            files={
                "train": "plain_text/train/*.parquet",
                "validation": "plain_text/validation/*.parquet",
            },
            label_column="label",
        ),
        description="PIQA physical commonsense, pick solution 1 or 2; eval on validation.",
    ),
    _spec(
        name="commonsenseqa",
        task_type="multiple_choice",
        label_names=("A", "B", "C", "D", "E"),
        label_words=("A", "B", "C", "D", "E"),
        hub=HubSource(
            path="tau/commonsense_qa",
            config="default",
            revision=MAIN,
            train_split="train",
            eval_split="validation",
            files={"train": "data/train-*.parquet", "validation": "data/validation-*.parquet"},
        ),
        description="CommonsenseQA 5-way multiple choice; eval on validation.",
    ),
    _spec(
        name="gsm8k",
        task_type="numeric",
        label_names=None,
        label_words=None,
        hub=HubSource(
            path="openai/gsm8k",
            config="main",
            revision=MAIN,
            train_split="train",
            eval_split="test",
            files={"train": "main/train-*.parquet", "test": "main/test-*.parquet"},
        ),
        description="GSM8K grade-school maths; gold is the number after '####'; eval on test.",
    ),
    _spec(
        name="passkey",
        task_type="passkey",
        label_names=None,
        label_words=None,
        generator="passkey",
        description="Recall a uniform 5-digit code; eval set of 100 from random.Random(42).",
    ),
    _spec(
        name="synth_sentiment",
        task_type="classification",
        label_names=SENTIMENT,
        label_words=SENTIMENT,
        generator="synth_sentiment",
        analogue="sst2",
        description="Offline binary review sentiment from templates (stand-in for SST-2).",
    ),
    _spec(
        name="synth_topic",
        task_type="classification",
        label_names=TOPICS,
        label_words=TOPICS,
        label_aliases=TOPIC_ALIASES,
        generator="synth_topic",
        analogue="agnews",
        description="Offline 4-way news topic from templates (stand-in for AG News).",
    ),
    _spec(
        name="synth_qtype",
        task_type="classification",
        label_names=TREC_COARSE,
        label_words=TREC_COARSE,
        generator="synth_qtype",
        analogue="trec",
        description="Offline 6-way question type from templates (stand-in for TREC coarse).",
    ),
)

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({s.name: s for s in _SPECS})


def get_dataset(name: str) -> DatasetSpec:
    """Look up a dataset spec by name."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}"
        ) from None


__all__ = [
    "BANKING77_INTENTS",
    "DATASETS",
    "MAIN",
    "PARQUET_EXPORT",
    "TASK_TYPES",
    "DatasetSpec",
    "Example",
    "HubSource",
    "get_dataset",
]
