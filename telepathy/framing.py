"""How an example becomes sender tokens and receiver inputs: one object for train, eval, latency.

Pitfall 1 (method.md §9): the original trained with one primer and evaluated with another. Here
the receiver prefix [primer ++ soft tokens] is built by one method that training, generation and
(later) the latency benchmark all call, so the prefixes are byte-identical by construction, and
a test checks it. The receiver sequence has no BOS (§2.1); every answer target ends with EOS and
its right padding is masked in labels and attention (pitfall 7).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from telepathy.data import DatasetSpec, Example
from telepathy.experiment.config import RunConfig


@dataclass
class SenderBatch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T), 1 = real token


@dataclass
class AnswerBatch:
    input_ids: torch.Tensor  # (B, A): answer tokens + EOS, right-padded with EOS
    mask: torch.Tensor  # (B, A): 1 on real answer tokens and their EOS, 0 on padding


class Framing:
    """Sender prompt, truncation, receiver primer, soft-token placement and answer format."""

    def __init__(
        self,
        cfg: RunConfig,
        spec: DatasetSpec,
        sender_tokenizer: Any | None,
        receiver_tokenizer: Any | None,
        *,
        stage: str = "train",
    ) -> None:
        """A tokenizer is None when the run never loads that LM (the receiver-only baselines,
        the sender-only probe); that side's methods must then not be called. `stage` ("train",
        which covers quick evals, or "eval") picks the character cut of the faithful presets."""
        self.cfg = cfg
        self.spec = spec
        self.stage = stage
        self.char_limit = cfg.char_limit(stage)
        self.sender_tokenizer = sender_tokenizer
        self.receiver_tokenizer = receiver_tokenizer
        if sender_tokenizer is not None:
            # Right padding with an attention mask, once here rather than on every batch.
            sender_tokenizer.padding_side = "right"
        self.primer_ids: list[int] = []
        if receiver_tokenizer is not None:
            # No special tokens: the receiver sequence starts with the primer, not BOS (§2.1).
            self.primer_ids = receiver_tokenizer(cfg.primer, add_special_tokens=False).input_ids
            self.eos_id: int = receiver_tokenizer.eos_token_id
            if self.eos_id is None:
                raise ValueError(
                    "the receiver tokenizer has no EOS token; answers must end with one"
                )

    # ------------------------------------------------------------------ labels and answers

    def label_words(self) -> tuple[str, ...] | None:
        """The words the receiver must produce, in the parser's fixed order."""
        return self.spec.label_words

    def answer_word(self, label: str) -> str:
        """The receiver-side word for a gold label (numeric and passkey answers are themselves)."""
        if self.spec.label_names is None:
            return label
        return self.spec.label_words[self.spec.label_names.index(label)]

    def answer_text(self, label: str) -> str:
        """The target string before EOS: label word with the protocol's leading space rule."""
        word = self.answer_word(label)
        return f" {word}" if self.cfg.answer_leading_space else word

    def answer_batch(self, labels: Sequence[str], device: torch.device) -> AnswerBatch:
        """Tokenised targets, each ending in EOS, right-padded; padding masked (pitfall 7)."""
        rows = [
            [
                *self.receiver_tokenizer(
                    self.answer_text(label), add_special_tokens=False
                ).input_ids,
                self.eos_id,
            ]
            for label in labels
        ]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.eos_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return AnswerBatch(ids.to(device), mask.to(device))

    # ------------------------------------------------------------------ sender side

    def sender_text(self, example: Example) -> str:
        """The sender prompt, its variable field first truncated to sender_max_tokens tokens."""
        return self.template_text(example, self.sender_tokenizer)

    def template_text(self, example: Example, tokenizer: Any) -> str:
        """sender_template filled with the example, its variable field truncated to
        sender_max_tokens tokens of `tokenizer` (baselines where the receiver reads the text
        use the same wording with the receiver's tokenizer, pitfall 2)."""
        fields = dict(example.fields)
        field = self.cfg.truncate_field
        if self.char_limit is not None:  # the original's character slice, before the tokens
            fields[field] = fields[field][: self.char_limit]
        ids = tokenizer(fields[field], add_special_tokens=False).input_ids
        if len(ids) > self.cfg.sender_max_tokens:
            # One rule in tokens for train, eval and latency (pitfall 21), applied to the
            # content so the template's question to the sender is never cut off.
            fields[field] = tokenizer.decode(ids[: self.cfg.sender_max_tokens])
        return self.cfg.sender_template.format(**fields)

    def sender_batch(self, examples: Sequence[Example], device: torch.device) -> SenderBatch:
        """Sender tokens with the tokenizer's own defaults (BOS added), right-padded."""
        encoded = self.sender_tokenizer(
            [self.sender_text(e) for e in examples], padding=True, return_tensors="pt"
        )
        return SenderBatch(encoded.input_ids.to(device), encoded.attention_mask.to(device))

    # ------------------------------------------------------------------ receiver side

    def receiver_prefix(self, soft_tokens: torch.Tensor, embed: torch.nn.Module) -> torch.Tensor:
        """[primer ++ soft tokens] as receiver input embeddings, (B, P + K, d_receiver).

        `embed` is the receiver's input-embedding *module*: Gemma's scales its output by
        sqrt(d), and the soft tokens are calibrated against what the module returns.
        """
        batch = soft_tokens.shape[0]
        primer_ids = torch.tensor(self.primer_ids, device=soft_tokens.device)
        with torch.no_grad():
            primer = embed(primer_ids).unsqueeze(0).expand(batch, -1, -1)  # (B, P, d)
        # The one bridge -> receiver boundary cast (pitfall 3): soft tokens take the LM's dtype.
        return torch.cat([primer, soft_tokens.to(primer.dtype)], dim=1)

    def training_inputs(
        self, soft_tokens: torch.Tensor, answers: AnswerBatch, embed: torch.nn.Module
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[primer ++ soft ++ answer] embeddings (B, P+K+A, d) and the matching attention mask."""
        prefix = self.receiver_prefix(soft_tokens, embed)  # (B, P + K, d)
        with torch.no_grad():
            answer = embed(answers.input_ids).to(prefix.dtype)  # (B, A, d)
        prefix_mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
        return (
            torch.cat([prefix, answer], dim=1),
            torch.cat([prefix_mask, answers.mask], dim=1),
        )

    def for_stage(self, stage: str) -> Framing:
        """This framing for another stage (a trained baseline's final eval after training)."""
        other = copy.copy(self)
        other.stage, other.char_limit = stage, self.cfg.char_limit(stage)
        return other

    def truncation(self) -> str:
        """How the sender's field is cut, for result files."""
        chars = f"its first {self.char_limit} characters, then to " if self.char_limit else ""
        return f"{self.cfg.truncate_field} to {chars}{self.cfg.sender_max_tokens} sender tokens"

    def describe(self) -> dict[str, Any]:
        """What the receiver reads, for the result file."""
        return {
            "primer": self.cfg.primer,
            "primer_token_ids": self.primer_ids,
            "soft_token_position": "after primer, before answer",
            "receiver_bos": False,
            "answer_format": ("space + " if self.cfg.answer_leading_space else "")
            + "label word + EOS",
            "sender_template": self.cfg.sender_template,
            "sender_truncation": self.truncation(),
        }
