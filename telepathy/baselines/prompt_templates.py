"""The text prompts of the prompting baselines, per dataset, and the functions that fill them.

Wording comes from method.md §5.1 (zero-shot), §5.2 (few-shot) and §5.3 (text relay) where the
original had a prompt for the dataset. Two fixes hold everywhere (method.md §9):

- every prompt names the labels the one parser accepts (pitfall 12: Era D's relay omitted them
  and scored 1 % / 4 %); where the original prompt asked for words the parser does not know
  (the §5.1 TREC prompt's "abbreviation, entity, ..."; Banking77's "intent_0 ... intent_76"),
  the §5.1 direct-text wording that names the parser's words is used instead;
- a dataset without an original prompt (BoolQ, PIQA, CommonsenseQA, passkey) gets one in the
  same shape, recorded in the result's `source` note.

Generated tasks use the prompts of their real analogue (synth_sentiment -> sst2, ...).
Everything here is pure string work; tokenisation and truncation happen in the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from telepathy.data import DatasetSpec

SUMMARY_INSTRUCTION = "Summarize this in one sentence:"  # method.md §5.3, Era B


@dataclass(frozen=True)
class TaskPrompts:
    """How one task is asked in text: zero-shot, few-shot and the two text-relay steps.

    Instructions may hold `{labels}`, filled with the parser's label words; input templates
    hold the example's field names (`{text}`, `{passage}`, ...).
    """

    source: str  # where the wording comes from (method.md section), for the result file
    zero_shot_instruction: str
    zero_shot_input: str
    zero_shot_cue: str  # the line after the input that the model completes
    few_shot_instruction: str
    few_shot_input: str
    few_shot_cue: str
    relay_source: str  # what the sender summarises in text relay
    relay_question: str  # the receiver's task in text relay; names the labels
    # Label word -> how a demonstration shows it (AG News demos say "Sci/Tech", an alias).
    shown_answers: Mapping[str, str] = field(default_factory=dict)


_TREC_TYPES = (
    "ABBR (abbreviation), DESC (description), ENTY (entity), HUM (human), LOC (location), "
    "NUM (numeric)"
)

TASK_PROMPTS: Mapping[str, TaskPrompts] = MappingProxyType(
    {
        "sst2": TaskPrompts(
            source="method.md §5.1 zero-shot, §5.2 few-shot, §5.3 Era-B relay (verbatim)",
            zero_shot_instruction="Classify the sentiment of this review as positive or negative.",
            zero_shot_input="Review: {text}",
            zero_shot_cue="Sentiment:",
            few_shot_instruction="Classify the sentiment as positive or negative.",
            few_shot_input="Text: {text}",
            few_shot_cue="Label:",
            relay_source="{text}",
            relay_question="Is the sentiment positive or negative?",
        ),
        "agnews": TaskPrompts(
            source="method.md §5.1 zero-shot, §5.2 few-shot, §5.3 Era-B relay (verbatim); "
            "'Sci/Tech' is a parser alias of 'science'",
            zero_shot_instruction=(
                "Classify the topic of this article as World, Sports, Business, or Sci/Tech."
            ),
            zero_shot_input="Article: {text}",
            zero_shot_cue="Topic:",
            few_shot_instruction="Classify the topic as World, Sports, Business, or Sci/Tech.",
            few_shot_input="Text: {text}",
            few_shot_cue="Label:",
            relay_source="{text}",
            relay_question="What is the topic: world, sports, business, or science?",
            shown_answers=MappingProxyType(
                {
                    "world": "World",
                    "sports": "Sports",
                    "business": "Business",
                    "science": "Sci/Tech",
                }
            ),
        ),
        "trec": TaskPrompts(
            source="method.md §5.1 direct-text TREC prompt (the §5.1 zero-shot one asks for "
            "words the parser does not accept), §5.2 few-shot, §5.3 Era-B relay (verbatim)",
            zero_shot_instruction=f"Classify this question into one of these types: {_TREC_TYPES}.",
            zero_shot_input="Question: {text}",
            zero_shot_cue="Type:",
            few_shot_instruction=(
                "Classify the question type as ABBR, ENTY, DESC, HUM, LOC, or NUM."
            ),
            few_shot_input="Text: {text}",
            few_shot_cue="Label:",
            relay_source="{text}",
            relay_question=(
                "What type of question is this: ABBR (abbreviation), DESC (description), "
                "ENTY (entity), HUM (human), LOC (location), or NUM (numeric)? "
                "Respond with just the type."
            ),
        ),
        "banking77": TaskPrompts(
            source="method.md §5.1 direct-text / §5.3 Banking77 prompts with the 77 intent names "
            "listed (the originals listed none or 'intent_0 ... intent_76', hence 0 %)",
            zero_shot_instruction=(
                "Classify this banking query into one of these intents: {labels}."
            ),
            zero_shot_input="Query: {text}",
            zero_shot_cue="Intent:",
            few_shot_instruction="Classify the banking query intent as one of: {labels}.",
            few_shot_input="Text: {text}",
            few_shot_cue="Label:",
            relay_source="{text}",
            relay_question=(
                "What is the banking intent of this query? Respond with just one of these "
                "intents: {labels}."
            ),
        ),
        "boolq": TaskPrompts(
            source="new (no original BoolQ prompting baseline); §5.3 shape for the relay",
            zero_shot_instruction="Answer the question about the passage with Yes or No.",
            zero_shot_input="Passage: {passage}\nQuestion: {question}",
            zero_shot_cue="Answer:",
            few_shot_instruction="Answer each question about its passage with Yes or No.",
            few_shot_input="Passage: {passage}\nQuestion: {question}",
            few_shot_cue="Answer:",
            relay_source="{passage}\n\nQuestion: {question}",
            relay_question="Answer the question with Yes or No.",
        ),
        "piqa": TaskPrompts(
            source="new (no original PIQA prompting baseline); §5.3 shape for the relay",
            zero_shot_instruction="Which solution achieves the goal? Answer 1 or 2.",
            zero_shot_input="Goal: {goal}\n1. {sol1}\n2. {sol2}",
            zero_shot_cue="Answer:",
            few_shot_instruction="For each goal, answer 1 or 2: which solution achieves it?",
            few_shot_input="Goal: {goal}\n1. {sol1}\n2. {sol2}",
            few_shot_cue="Answer:",
            relay_source="Goal: {goal}\n1. {sol1}\n2. {sol2}",
            relay_question="Which solution achieves the goal? Answer 1 or 2.",
        ),
        "commonsenseqa": TaskPrompts(
            source="new (no original CommonsenseQA prompting baseline); §5.3 shape for the relay",
            zero_shot_instruction=(
                "Answer the question with the letter of the best choice: A, B, C, D, or E."
            ),
            zero_shot_input="Question: {question}\n{choices}",
            zero_shot_cue="Answer:",
            few_shot_instruction=(
                "Answer each question with the letter of the best choice: A, B, C, D, or E."
            ),
            few_shot_input="Question: {question}\n{choices}",
            few_shot_cue="Answer:",
            relay_source="Question: {question}\n{choices}",
            relay_question=(
                "Answer the question with the letter of the best choice: A, B, C, D, or E."
            ),
        ),
        "gsm8k": TaskPrompts(
            source="method.md §5.8 direct GSM8K prompt (zero-shot); few-shot demos show the "
            "final number only (the loader keeps no worked solutions)",
            zero_shot_instruction="Solve this math problem step by step:",
            zero_shot_input="{question}",
            zero_shot_cue="Solution:",
            few_shot_instruction="Solve each math problem and give the final number.",
            few_shot_input="Question: {question}",
            few_shot_cue="Answer:",
            relay_source="{question}",
            relay_question="Solve this math problem step by step and give the final number.",
        ),
        "passkey": TaskPrompts(
            source="new: the Era-B passkey sender sentence (§3.1) followed by a recall question",
            zero_shot_instruction="Read the sentence and repeat the secret access code.",
            zero_shot_input="The secret access code is {code}. Remember it.",
            zero_shot_cue="The code is",
            few_shot_instruction="Read each sentence and repeat its secret access code.",
            few_shot_input="The secret access code is {code}. Remember it.",
            few_shot_cue="The code is",
            relay_source="The secret access code is {code}. Remember it.",
            relay_question="What is the secret access code? Respond with just the code.",
        ),
    }
)


def task_prompts(spec: DatasetSpec) -> TaskPrompts:
    """The prompts of a dataset (generated tasks use their analogue's), or a clear error."""
    key = spec.analogue or spec.name
    if key not in TASK_PROMPTS:
        raise ValueError(
            f"dataset {spec.name!r} has no text prompts, so prompting baselines do not apply "
            f"to it; datasets with prompts: {', '.join(sorted(TASK_PROMPTS))} and their "
            "generated stand-ins"
        )
    return TASK_PROMPTS[key]


def _labels(spec: DatasetSpec) -> str:
    return ", ".join(spec.label_words or ())


def _fill(template: str, fields: Mapping[str, str]) -> str:
    """Fill a template with an example's fields; a missing field names the template."""
    try:
        return template.format(**fields)
    except KeyError as err:
        raise ValueError(
            f"prompt template {template!r} needs field {err.args[0]!r}; the example has "
            f"{', '.join(sorted(fields))}"
        ) from None


def shown_answer(prompts: TaskPrompts, spec: DatasetSpec, label: str) -> str:
    """How a demonstration writes the gold answer of `label` (a word the parser accepts)."""
    word = spec.label_word(label)
    return prompts.shown_answers.get(word, word)


def zero_shot_prompt(prompts: TaskPrompts, spec: DatasetSpec, fields: Mapping[str, str]) -> str:
    """`{instruction}\\n\\n{input}\\n\\n{cue}` as in method.md §5.1."""
    instruction = prompts.zero_shot_instruction.format(labels=_labels(spec))
    return f"{instruction}\n\n{_fill(prompts.zero_shot_input, fields)}\n\n{prompts.zero_shot_cue}"


def few_shot_prompt(
    prompts: TaskPrompts,
    spec: DatasetSpec,
    demonstrations: Sequence[tuple[Mapping[str, str], str]],
    fields: Mapping[str, str],
) -> str:
    """The task sentence, one `{input}\\n{cue} {answer}` block per demonstration, then the test
    item's block ending at the cue (method.md §5.2). Demonstrations are (fields, label) pairs."""
    blocks = [prompts.few_shot_instruction.format(labels=_labels(spec))]
    for demo_fields, label in demonstrations:
        demo = _fill(prompts.few_shot_input, demo_fields)
        blocks.append(f"{demo}\n{prompts.few_shot_cue} {shown_answer(prompts, spec, label)}")
    blocks.append(f"{_fill(prompts.few_shot_input, fields)}\n{prompts.few_shot_cue}")
    return "\n\n".join(blocks)


def summary_prompt(prompts: TaskPrompts, fields: Mapping[str, str]) -> str:
    """The sender's step of text relay (method.md §5.3, Era B)."""
    return f"{SUMMARY_INSTRUCTION}\n\n{_fill(prompts.relay_source, fields)}\n\nSummary:"


def relay_prompt(prompts: TaskPrompts, spec: DatasetSpec, summary: str) -> str:
    """The receiver's step of text relay: `{task}\\n\\nText: {summary}\\n\\nAnswer:` (§5.3), the
    task naming every label (pitfall 12)."""
    question = prompts.relay_question.format(labels=_labels(spec))
    return f"{question}\n\nText: {summary}\n\nAnswer:"


def describe_prompts(prompts: TaskPrompts, spec: DatasetSpec) -> dict[str, Any]:
    """The templates as the run used them, for the result file's hyperparameters."""
    labels = _labels(spec)
    return {
        "source": prompts.source,
        "zero_shot": "\n\n".join(
            [
                prompts.zero_shot_instruction.format(labels=labels),
                prompts.zero_shot_input,
                prompts.zero_shot_cue,
            ]
        ),
        "few_shot_instruction": prompts.few_shot_instruction.format(labels=labels),
        "few_shot_block": f"{prompts.few_shot_input}\n{prompts.few_shot_cue} {{answer}}",
        "relay_sender": f"{SUMMARY_INSTRUCTION}\n\n{prompts.relay_source}\n\nSummary:",
        "relay_receiver": f"{prompts.relay_question.format(labels=labels)}\n\n"
        "Text: {summary}\n\nAnswer:",
        "shown_answers": dict(prompts.shown_answers),
    }
