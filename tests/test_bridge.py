"""The bridge module: shapes, output scale, parameter count, masking, dtype boundary."""

from __future__ import annotations

import pytest
import torch

from telepathy.bridge import BridgeShape, PerceiverBridge, count_parameters


def make_bridge(**shape_kwargs) -> PerceiverBridge:
    shape = BridgeShape(**{"d_sender": 48, "d_receiver": 32, "n_soft_tokens": 5, **shape_kwargs})
    torch.manual_seed(0)
    return PerceiverBridge(shape, output_scale_init=0.0027)


def test_output_shape_and_per_token_scale():
    bridge = make_bridge()
    states = torch.randn(3, 11, 48) * 40  # sender states far from unit scale
    mask = torch.ones(3, 11, dtype=torch.long)
    out = bridge(states, mask)
    assert out.soft_tokens.shape == (3, 5, 32)
    rms = out.soft_tokens.pow(2).mean(-1).sqrt()  # (3, 5): every token at exactly s0
    torch.testing.assert_close(rms, torch.full((3, 5), 0.0027), rtol=1e-4, atol=0)
    assert out.pre_norm_variance.ndim == 0 and out.pre_norm_variance > 0


def test_output_scale_is_learnable_and_scales_the_output():
    bridge = make_bridge()
    assert bridge.output_scale.requires_grad
    with torch.no_grad():
        bridge.output_scale.fill_(2.0)
    out = bridge(torch.randn(2, 4, 48), torch.ones(2, 4))
    torch.testing.assert_close(out.soft_tokens.pow(2).mean(-1).sqrt(), torch.full((2, 5), 2.0))


@pytest.mark.parametrize(
    ("n_soft_tokens", "expected"),
    [(8, 537_059_329), (16, 537_092_097), (32, 537_157_633)],  # method.md §1.3
)
def test_parameter_count_at_paper_width(n_soft_tokens, expected):
    # Built on the meta device: full 4096-d shapes without allocating 2 GB.
    with torch.device("meta"):
        bridge = PerceiverBridge(
            BridgeShape(d_sender=4096, d_receiver=4096, n_soft_tokens=n_soft_tokens), 0.0027
        )
    assert isinstance(bridge.input_proj, torch.nn.Identity)  # equal widths: no projection
    assert count_parameters(bridge) == expected


def test_input_projection_only_when_widths_differ():
    assert isinstance(make_bridge().input_proj, torch.nn.Linear)
    assert isinstance(make_bridge(d_sender=32).input_proj, torch.nn.Identity)


def test_sender_normalisation_adds_no_parameters():
    plain, normed = make_bridge(), make_bridge(normalize_sender=True)
    assert count_parameters(plain) == count_parameters(normed)
    # a LayerNorm makes the output invariant to the sender states' overall scale
    states, mask = torch.randn(2, 6, 48), torch.ones(2, 6)
    torch.testing.assert_close(
        normed(states, mask).soft_tokens, normed(states * 50, mask).soft_tokens
    )


def test_padded_sender_positions_are_ignored():
    bridge = make_bridge()
    states = torch.randn(1, 6, 48)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    garbage = states.clone()
    garbage[:, 4:] = 1e3 * torch.randn(1, 2, 48)
    torch.testing.assert_close(bridge(states, mask).soft_tokens, bridge(garbage, mask).soft_tokens)


def test_bridge_casts_inputs_to_its_own_dtype():
    bridge = make_bridge().to(torch.bfloat16)
    out = bridge(torch.randn(2, 3, 48, dtype=torch.float32), torch.ones(2, 3))
    assert out.soft_tokens.dtype == torch.bfloat16


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_soft_token_count_is_rejected(bad):
    with pytest.raises(ValueError, match="n_soft_tokens must be >= 1"):
        make_bridge(n_soft_tokens=bad)
