"""Pick the k few-shot demonstrations of one seed: exactly k, class-balanced, never an eval item.

Pitfall 11 (method.md §9): the original drew `shots // num_classes` per class, so TREC's
"5-shot" had 0 demonstrations and SST-2's / AG News's had 4. Here exactly k items are drawn
round-robin over the classes (in a seeded class order, so for k < n_classes the classes that
get a demonstration vary with the seed). Multiple-choice, numeric and passkey tasks draw k
plain random items: their "classes" are answer slots, not categories.

One set per seed, shared by every eval item (as the original did), drawn from train items
whose text matches no eval item: some datasets repeat a sentence across splits, so an id check
alone could show the model the very item it is asked about.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from telepathy.data import DatasetSpec, Example


def text_identity(example: Example) -> str:
    """An example's content with case and whitespace folded: equal for textual duplicates."""
    return "\x1f".join(
        f"{name}={' '.join(value.split()).casefold()}"
        for name, value in sorted(example.fields.items())
    )


def eligible_pool(train: Sequence[Example], excluded: Iterable[Example]) -> list[Example]:
    """Train items that are no excluded item (by id or by text), first copy of each text only."""
    excluded = list(excluded)
    excluded_ids = {e.uid for e in excluded}
    seen = {text_identity(e) for e in excluded}
    pool = []
    for example in train:
        identity = text_identity(example)
        if example.uid in excluded_ids or identity in seen:
            continue
        seen.add(identity)  # a repeated train text would be one demonstration shown twice
        pool.append(example)
    return pool


def _round_robin(
    pool: Sequence[Example], k: int, class_order: Sequence[str], rng: random.Random
) -> list[Example]:
    by_class = {label: [e for e in pool if e.label == label] for label in class_order}
    for items in by_class.values():
        rng.shuffle(items)
    classes = [label for label in class_order if by_class[label]]
    rng.shuffle(classes)  # which classes get the k % n_classes extra slots depends on the seed
    chosen: list[Example] = []
    taken = dict.fromkeys(classes, 0)
    while len(chosen) < k:  # ends: k <= len(pool), checked by the caller
        for label in classes:
            if len(chosen) == k:
                break
            if taken[label] < len(by_class[label]):
                chosen.append(by_class[label][taken[label]])
                taken[label] += 1
    return chosen


def select_demonstrations(
    spec: DatasetSpec,
    train: Sequence[Example],
    eval_examples: Sequence[Example],
    k: int,
    seed: int,
) -> list[Example]:
    """Exactly k train items for few-shot prompts, in a seeded order.

    Classification tasks are balanced round-robin over their classes; other tasks draw k
    random items. No item shares an id or a text with any eval item.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"few-shot needs k >= 1 demonstrations, got k={k!r}")
    pool = eligible_pool(train, eval_examples)
    if k > len(pool):
        raise ValueError(
            f"k={k} demonstrations requested but only {len(pool)} of the {len(train)} "
            f"{spec.name} train items are eligible (items whose text matches an eval item or an "
            f"earlier train item are left out); use --shots {len(pool)} or fewer"
        )
    # A string seed hashes through SHA-512: stable across Python processes and versions.
    rng = random.Random(f"{spec.name}/few_shot/{seed}")
    if spec.task_type == "classification" and spec.label_names is not None:
        chosen = _round_robin(pool, k, spec.label_names, rng)
    else:
        chosen = rng.sample(pool, k)
    rng.shuffle(chosen)  # otherwise the class order would repeat in every prompt
    return chosen
