"""Latency, throughput and memory of the bridge, the text relay and direct text (method.md §6).

Pitfall 20: the paper's 22.4x timed the bridge up to the receiver's first forward pass against a
relay that generated; its later 4.66x used an untrained bridge. Here every method generates the
same fixed number of answer tokens, greedy with a KV cache, and EOS never stops it, so random or
trained weights cannot change how much work is timed. The bridge is a trained checkpoint unless
the run says `random_weights` (cli). Every clock read goes through timing.read_clock, which waits
for queued CUDA work first; a phase is the time between two reads, so phases sum to the total.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from telepathy.bridge import Bridge
from telepathy.data import Example
from telepathy.framing import Framing
from telepathy.latency.timing import MemoryProbe, PhaseTimer, module_bytes
from telepathy.losses import adamw, bridge_loss_terms  # `telepathy train`'s, not copies
from telepathy.models.frozen_prefix import cache_keyword, returned_cache
from telepathy.models.pair import LoadedPair, sender_states

PHASES: dict[str, tuple[str, ...]] = {
    "bridge": ("tokenize", "sender_encode", "bridge", "receiver_prefill", "receiver_decode"),
    "direct_text": ("tokenize", "receiver_prefill", "receiver_decode"),
    "text_relay": (
        "tokenize",
        "sender_prefill",
        "sender_decode",
        "relay_handoff",
        "receiver_prefill",
        "receiver_decode",
    ),
    "train_step": ("forward", "backward", "optimizer_step"),
}
METHODS = tuple(PHASES)
INFERENCE_METHODS = ("bridge", "direct_text", "text_relay")
# The Era-B relay's summary prompt (method.md §5.3); answer prompts list the labels (pitfall 12).
SUMMARY_TEMPLATE = "Summarize this in one sentence:\n\n{text}\n\nSummary:"
LABEL_HINT_TEMPLATE = "\nAnswer with one of: {labels}.\n"


# ----------------------------------------------------------------------------- decoding


def left_pad(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows left-padded to one width: ids (B, T) and attention mask (B, T), 1 = real."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(list(row))
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def greedy_decode(
    model: Any,
    timer: PhaseTimer,
    *,
    attention_mask: torch.Tensor,
    n_new: int,
    phase_prefix: str,
    input_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Exactly `n_new` greedy tokens (B, n_new) after a left-padded prompt, with a KV cache.

    EOS is never a stop: the number of tokens is a setting, not something the weights decide.
    Laps `<prefix>_prefill` (the prompt's forward pass, giving the first token) and
    `<prefix>_decode` (the n_new - 1 one-token steps after it).
    """
    mask = attention_mask  # (B, T)
    # Left padding: real tokens take positions 0.. as in HF generate; pads are masked anyway.
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)  # (B, T)
    out = model(
        input_ids=input_ids,
        inputs_embeds=inputs_embeds,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,  # only the last position's logits: a 262k vocab x T would be wasted
    )
    token = out.logits[:, -1].argmax(dim=-1)  # (B,)
    tokens = [token]
    timer.lap(f"{phase_prefix}_prefill")
    next_position = positions[:, -1:] + 1  # (B, 1)
    for _ in range(n_new - 1):
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)  # (B, T + step)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=next_position,
            **{cache_keyword(model): returned_cache(out)},
            use_cache=True,
        )
        token = out.logits[:, -1].argmax(dim=-1)  # (B,)
        tokens.append(token)
        next_position = next_position + 1
    timer.lap(f"{phase_prefix}_decode")
    return torch.stack(tokens, dim=1)  # (B, n_new)


# ----------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class BenchSettings:
    """What is timed: fixed generation lengths, batch sizes, trials and methods."""

    decode_tokens: int  # answer tokens every method generates
    relay_tokens: int  # summary tokens the relay's sender generates
    batch_sizes: tuple[int, ...]
    trials: int
    warmup: int
    methods: tuple[str, ...]


@dataclass
class RunOutput:
    """What one run produced: generated tokens per stream, token counts (batch means)."""

    generated: dict[str, torch.Tensor]  # stream -> (B, n) token ids
    tokens: dict[str, float]


@dataclass
class Measurement:
    """Every timed trial of one method at one batch size."""

    method: str
    batch_size: int
    trials_ms: list[dict[str, float]] = field(default_factory=list)  # phases + "total"
    peak_bytes: list[int] = field(default_factory=list)
    baseline_bytes: list[int] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    generated_tokens: dict[str, int] = field(default_factory=dict)


class LatencyHarness:
    """Runs each method on one batch of examples, timing its phases."""

    def __init__(
        self, pair: LoadedPair, framing: Framing, bridge: Bridge, settings: BenchSettings
    ) -> None:
        self.pair, self.framing, self.bridge, self.settings = pair, framing, bridge, settings
        self.device = pair.device
        self.embed = pair.receiver.model.get_input_embeddings()
        receiver_tokenizer = pair.receiver.tokenizer
        words = framing.label_words()
        hint = LABEL_HINT_TEMPLATE.format(labels=", ".join(words)) if words else "\n"
        # The text methods' answer prompt ends like the bridge's: with the trained primer.
        self.answer_suffix = hint + framing.cfg.primer
        self.suffix_ids: list[int] = receiver_tokenizer(
            self.answer_suffix, add_special_tokens=False
        ).input_ids
        self._train_bridge: Bridge | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self.runners: dict[str, Callable[[Sequence[Example], PhaseTimer], RunOutput]] = {
            "bridge": self.run_bridge,
            "direct_text": self.run_direct_text,
            "text_relay": self.run_text_relay,
            "train_step": self.run_train_step,
        }

    def _receiver_rows(self, texts: Sequence[str]) -> list[list[int]]:
        tokenizer = self.pair.receiver.tokenizer
        return [tokenizer(text).input_ids + self.suffix_ids for text in texts]

    def run_bridge(self, batch: Sequence[Example], timer: PhaseTimer) -> RunOutput:
        """Sender forward -> bridge -> receiver reads [primer ++ K soft tokens] and generates."""
        sender_in = self.framing.sender_batch(batch, self.device)  # (B, T)
        timer.lap("tokenize")
        states = sender_states(
            self.pair.sender,
            sender_in.input_ids,
            sender_in.attention_mask,
            self.framing.cfg.source_layer,
        )  # (B, T, d_sender)
        timer.lap("sender_encode")
        soft = self.bridge(states, sender_in.attention_mask).soft_tokens  # (B, K, d_receiver)
        prefix = self.framing.receiver_prefix(soft, self.embed)  # (B, P + K, d_receiver)
        timer.lap("bridge")
        mask = torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device)
        answer = greedy_decode(
            self.pair.receiver.model,
            timer,
            inputs_embeds=prefix,
            attention_mask=mask,
            n_new=self.settings.decode_tokens,
            phase_prefix="receiver",
        )
        return RunOutput(
            {"answer": answer},
            {
                "transmitted": float(soft.shape[1]),
                "sender_input": float(sender_in.attention_mask.sum(dim=1).float().mean()),
                "receiver_input": float(prefix.shape[1]),
            },
        )

    def _receiver_answers(
        self, texts: list[str], timer: PhaseTimer, input_phase: str
    ) -> tuple[list[list[int]], torch.Tensor]:
        """The receiver reads each text plus the answer prompt and decodes the fixed answer;
        building its input is timed as `input_phase`."""
        rows = self._receiver_rows(texts)
        ids, mask = left_pad(rows, self.framing.eos_id, self.device)  # (B, T)
        timer.lap(input_phase)
        answer = greedy_decode(
            self.pair.receiver.model,
            timer,
            input_ids=ids,
            attention_mask=mask,
            n_new=self.settings.decode_tokens,
            phase_prefix="receiver",
        )
        return rows, answer

    def run_direct_text(self, batch: Sequence[Example], timer: PhaseTimer) -> RunOutput:
        """The receiver alone reads the sender's prompt text plus the answer prompt."""
        texts = [self.framing.sender_text(e) for e in batch]
        rows, answer = self._receiver_answers(texts, timer, "tokenize")
        n_text = [len(r) - len(self.suffix_ids) for r in rows]
        return RunOutput(
            {"answer": answer},
            {
                "transmitted": sum(n_text) / len(rows),
                "receiver_input": sum(len(r) for r in rows) / len(rows),
            },
        )

    def run_text_relay(self, batch: Sequence[Example], timer: PhaseTimer) -> RunOutput:
        """The sender writes a fixed-length summary; the receiver reads it and answers."""
        sender_tokenizer = self.pair.sender.tokenizer
        prompts = [SUMMARY_TEMPLATE.format(text=self.framing.sender_text(e)) for e in batch]
        sender_rows = [sender_tokenizer(p).input_ids for p in prompts]
        pad_id = sender_tokenizer.pad_token_id
        ids, mask = left_pad(sender_rows, pad_id, self.device)  # (B, T)
        timer.lap("tokenize")
        summary = greedy_decode(
            self.pair.sender.model,
            timer,
            input_ids=ids,
            attention_mask=mask,
            n_new=self.settings.relay_tokens,
            phase_prefix="sender",
        )  # (B, M)
        decoded = sender_tokenizer.batch_decode(summary, skip_special_tokens=True)
        texts = [t.strip() for t in decoded]
        rows, answer = self._receiver_answers(texts, timer, "relay_handoff")
        n_summary = [len(r) - len(self.suffix_ids) for r in rows]
        return RunOutput(
            {"summary": summary, "answer": answer},
            {
                "transmitted": float(summary.shape[1]),
                "summary_receiver_tokens": sum(n_summary) / len(rows),
                "sender_input": sum(len(r) for r in sender_rows) / len(rows),
                "receiver_input": sum(len(r) for r in rows) / len(rows),
            },
        )

    def run_train_step(self, batch: Sequence[Example], timer: PhaseTimer) -> RunOutput:
        """One training step (forward, backward through the frozen receiver, AdamW update).

        A copy of the bridge trains, so the inference methods keep timing the given weights.
        """
        cfg = self.framing.cfg
        if self._train_bridge is None:
            self._train_bridge = copy.deepcopy(self.bridge).requires_grad_(True)
            self._optimizer = adamw(self._train_bridge.parameters(), cfg.lr, cfg.weight_decay)
        bridge, optimizer = self._train_bridge, self._optimizer
        assert optimizer is not None
        bridge.train()
        optimizer.zero_grad(set_to_none=True)
        terms = bridge_loss_terms(cfg, self.pair, self.framing, bridge, self.embed, batch)
        timer.lap("forward")
        terms["loss"].backward()
        timer.lap("backward")
        torch.nn.utils.clip_grad_norm_(bridge.parameters(), cfg.grad_clip)
        optimizer.step()
        timer.lap("optimizer_step")
        return RunOutput({}, {"transmitted": float(bridge.shape.n_soft_tokens)})

    def expected_generated(self, method: str) -> dict[str, int]:
        """Tokens per stream every run of `method` must produce (fixed by the settings)."""
        answer = {"answer": self.settings.decode_tokens}
        return {
            "bridge": answer,
            "direct_text": answer,
            "text_relay": {"summary": self.settings.relay_tokens, **answer},
            "train_step": {},
        }[method]

    def run_once(self, method: str, batch: Sequence[Example]) -> tuple[PhaseTimer, RunOutput]:
        """One timed run; inference methods run without autograd, as in serving."""
        if method == "train_step":
            timer = PhaseTimer(self.device)
            return timer, self.run_train_step(batch, timer)
        with torch.inference_mode():
            timer = PhaseTimer(self.device)
            output = self.runners[method](batch, timer)
        counts = {name: int(t.shape[1]) for name, t in output.generated.items()}
        if counts != self.expected_generated(method):  # a harness bug, never a user error
            raise RuntimeError(
                f"{method} generated {counts} tokens, settings ask for "
                f"{self.expected_generated(method)}"
            )
        return timer, output


def batch_at(examples: Sequence[Example], index: int, batch_size: int) -> list[Example]:
    """The `index`-th batch, walking the example list cyclically."""
    start = index * batch_size
    return [examples[(start + i) % len(examples)] for i in range(batch_size)]


def run_benchmark(
    harness: LatencyHarness,
    examples: Sequence[Example],
    memory: MemoryProbe,
    log: Callable[[str], None] = lambda _message: None,
) -> list[Measurement]:
    """Warm-up runs, then `trials` timed runs of every method at every batch size.

    Methods are interleaved within a trial and their order rotates between trials, so drift
    (other jobs on shared cores, clocks, caches) spreads over all methods instead of biasing the
    one measured last. Every method of a trial reads the same batch.
    """
    settings = harness.settings
    results: list[Measurement] = []
    for batch_size in settings.batch_sizes:
        for index in range(settings.warmup):
            for method in settings.methods:
                harness.run_once(method, batch_at(examples, index, batch_size))
        measured = {m: Measurement(m, batch_size) for m in settings.methods}
        for trial in range(settings.trials):
            batch = batch_at(examples, settings.warmup + trial, batch_size)
            shift = trial % len(settings.methods)
            for method in (*settings.methods[shift:], *settings.methods[:shift]):
                baseline = memory.start()
                timer, output = harness.run_once(method, batch)
                peak = memory.peak()
                row = measured[method]
                phases_ms = {k: v * 1e3 for k, v in timer.phases_s.items()}
                row.trials_ms.append({**phases_ms, "total": timer.total_s * 1e3})
                row.peak_bytes.append(peak)
                row.baseline_bytes.append(baseline)
                for key, value in output.tokens.items():
                    row.tokens[key] = row.tokens.get(key, 0.0) + value
                row.generated_tokens = {k: int(t.shape[1]) for k, t in output.generated.items()}
        for method in settings.methods:
            row = measured[method]
            row.tokens = {k: v / settings.trials for k, v in row.tokens.items()}  # trial means
            median_ms = statistics.median(t["total"] for t in row.trials_ms)
            log(f"batch {batch_size} {method}: median {median_ms:.1f} ms")
        results.extend(measured.values())
    return results


def method_weight_bytes(pair: LoadedPair, bridge: torch.nn.Module) -> dict[str, int]:
    """Bytes of the weights each method needs resident (the memory floor of serving it)."""
    sender, receiver = module_bytes(pair.sender.model), module_bytes(pair.receiver.model)
    bridge_bytes = module_bytes(bridge)
    return {
        "bridge": sender + receiver + bridge_bytes,
        "direct_text": receiver,
        "text_relay": sender + receiver,
        "train_step": sender + receiver + bridge_bytes,
    }
