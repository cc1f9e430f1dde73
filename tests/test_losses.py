"""Answer-only LM loss and the batch-similarity (diversity) loss."""

from __future__ import annotations

import math

import torch

from telepathy.losses import answer_lm_loss, batch_similarity, labelled_next_token_loss


def test_batch_similarity_is_one_for_identical_inputs():
    one = torch.randn(1, 4, 16)
    assert math.isclose(float(batch_similarity(one.repeat(5, 1, 1))), 1.0, rel_tol=1e-5)


def test_batch_similarity_is_near_zero_for_distinct_random_inputs():
    torch.manual_seed(0)
    sim = float(batch_similarity(torch.randn(8, 16, 256)))
    assert abs(sim) < 0.05


def test_batch_similarity_of_opposite_pair_is_minus_one_and_ignores_scale():
    x = torch.randn(1, 3, 8)
    pair = torch.cat([x, -7 * x])
    assert math.isclose(float(batch_similarity(pair)), -1.0, rel_tol=1e-5)


def test_batch_similarity_matches_hand_computed_mean_off_diagonal():
    a = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]])  # (3, 1, 2)
    # cosines: (a0,a1)=0, (a0,a2)=(a1,a2)=1/sqrt(2); mean over the 6 ordered pairs = 2*sqrt(2)/6
    assert math.isclose(float(batch_similarity(a)), 2 * (2**-0.5) * 2 / 6, rel_tol=1e-6)


def test_batch_of_one_has_zero_similarity_loss():
    assert float(batch_similarity(torch.randn(1, 4, 8))) == 0.0


def test_answer_loss_ignores_padding_positions():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 10)
    ids = torch.tensor([[1, 2, 3], [4, 5, 9]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    expected = torch.nn.functional.cross_entropy(
        torch.cat([logits[0], logits[1, :2]]), torch.tensor([1, 2, 3, 4, 5])
    )
    torch.testing.assert_close(answer_lm_loss(logits, ids, mask), expected)
    changed = logits.clone()
    changed[1, 2] = 100.0  # a padded position: must not change the loss
    torch.testing.assert_close(answer_lm_loss(changed, ids, mask), expected)


def test_labelled_loss_equals_the_loss_over_every_positions_logits(tiny_pair):
    """Only the positions with a target go through the head; the loss and its gradient are the
    ones of the full logits with the unlabelled positions ignored."""
    receiver = tiny_pair.receiver.model
    torch.manual_seed(0)
    embeds = torch.randn(3, 7, receiver.config.hidden_size, requires_grad=True)
    mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 6 + [0]])
    labels = torch.full((3, 7), -100)
    labels[0, 5:7] = torch.tensor([4, 2])  # each row's answer sits at its own positions
    labels[1, 3:5] = torch.tensor([7, 1])
    labels[2, 4] = 3
    kept = labelled_next_token_loss(receiver, embeds, mask, labels)
    (kept_grad,) = torch.autograd.grad(kept, embeds)
    logits = receiver(inputs_embeds=embeds, attention_mask=mask).logits[:, :-1]  # (B, L-1, V)
    full = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    (full_grad,) = torch.autograd.grad(full, embeds)
    torch.testing.assert_close(kept, full)
    torch.testing.assert_close(kept_grad, full_grad)
