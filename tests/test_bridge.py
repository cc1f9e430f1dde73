"""The bridge modules: shapes, output scale, parameter count, masking, dtype boundary."""

from __future__ import annotations

import pytest
import torch

from telepathy.bridge import (
    BRIDGE_CLASSES,
    Bridge,
    BridgeShape,
    LinearBridge,
    MLPBridge,
    PerceiverBridge,
    count_parameters,
    make_bridge,
    masked_mean,
)
from telepathy.experiment.config import BRIDGE_ARCHITECTURES

ARCHITECTURES = pytest.mark.parametrize("architecture", BRIDGE_ARCHITECTURES)
D_SENDER, D_RECEIVER, SOFT_TOKENS = 48, 32, 5


def build(architecture: str = "perceiver", **shape_kwargs) -> Bridge:
    shape = BridgeShape(
        **{
            "d_sender": D_SENDER,
            "d_receiver": D_RECEIVER,
            "n_soft_tokens": SOFT_TOKENS,
            "architecture": architecture,
            **shape_kwargs,
        }
    )
    torch.manual_seed(0)
    return make_bridge(shape, output_scale_init=0.0027)


@ARCHITECTURES
def test_output_shape_and_per_token_scale(architecture):
    bridge = build(architecture)
    states = torch.randn(3, 11, 48) * 40  # sender states far from unit scale
    mask = torch.ones(3, 11, dtype=torch.long)
    out = bridge(states, mask)
    assert out.soft_tokens.shape == (3, 5, 32)
    rms = out.soft_tokens.pow(2).mean(-1).sqrt()  # (3, 5): every token at exactly s0
    torch.testing.assert_close(rms, torch.full((3, 5), 0.0027), rtol=1e-4, atol=0)
    assert out.pre_norm_variance.ndim == 0 and out.pre_norm_variance > 0


@ARCHITECTURES
def test_output_scale_is_learnable_and_scales_the_output(architecture):
    bridge = build(architecture)
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
    assert isinstance(build().input_proj, torch.nn.Linear)
    assert isinstance(build(d_sender=32).input_proj, torch.nn.Identity)


@ARCHITECTURES
def test_sender_normalisation_adds_no_parameters(architecture):
    plain, normed = build(architecture), build(architecture, normalize_sender=True)
    assert count_parameters(plain) == count_parameters(normed)
    # a LayerNorm makes the output invariant to the sender states' overall scale
    states, mask = torch.randn(2, 6, 48), torch.ones(2, 6)
    torch.testing.assert_close(
        normed(states, mask).soft_tokens, normed(states * 50, mask).soft_tokens
    )


@ARCHITECTURES
def test_padded_sender_positions_are_ignored(architecture):
    bridge = build(architecture)
    states = torch.randn(1, 6, 48)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    garbage = states.clone()
    garbage[:, 4:] = 1e3 * torch.randn(1, 2, 48)
    torch.testing.assert_close(bridge(states, mask).soft_tokens, bridge(garbage, mask).soft_tokens)


@ARCHITECTURES
def test_bridge_casts_inputs_to_its_own_dtype(architecture):
    bridge = build(architecture).to(torch.bfloat16)
    out = bridge(torch.randn(2, 3, 48, dtype=torch.float32), torch.ones(2, 3))
    assert out.soft_tokens.dtype == torch.bfloat16


@ARCHITECTURES
@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_soft_token_count_is_rejected(architecture, bad):
    with pytest.raises(ValueError, match="n_soft_tokens must be >= 1"):
        build(architecture, n_soft_tokens=bad)


# ----------------------------------------------------------------------------- architectures


def test_factory_builds_every_configurable_architecture_and_only_those():
    assert tuple(BRIDGE_CLASSES) == BRIDGE_ARCHITECTURES
    expected = {"perceiver": PerceiverBridge, "mlp": MLPBridge, "linear": LinearBridge}
    for name, cls in expected.items():
        bridge = build(name)
        assert type(bridge) is cls and bridge.shape.architecture == name


def test_default_architecture_is_the_perceiver_with_its_parameter_names():
    shape = BridgeShape(
        d_sender=D_SENDER, d_receiver=D_RECEIVER, n_soft_tokens=SOFT_TOKENS, depth=1
    )
    bridge = make_bridge(shape, 0.0027)
    assert shape.architecture == "perceiver" and type(bridge) is PerceiverBridge
    # Names and order as before the other architectures existed: old state_dicts must load, and
    # the optimiser state of a resumed run is matched to parameters by this order.
    attention = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    block = [
        *(f"ln_cross.{n}" for n in ("weight", "bias")),
        *(f"cross_attn.{n}" for n in attention),
        *(f"ln_self.{n}" for n in ("weight", "bias")),
        *(f"self_attn.{n}" for n in attention),
        *(f"ln_ffn.{n}" for n in ("weight", "bias")),
        *(f"ffn.{n}" for n in ("0.weight", "0.bias", "2.weight", "2.bias")),
    ]
    expected = [
        "latents",
        "output_scale",
        "input_proj.weight",
        "input_proj.bias",
        *(f"blocks.0.{n}" for n in block),
    ]
    assert list(bridge.state_dict()) == expected
    assert [name for name, _ in bridge.named_parameters()] == expected


def test_unknown_architecture_names_the_value_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'transformer'; expected one of perceiver, mlp, linear"):
        build("transformer")


# Formulas written out from the definitions (d_s, d_r, K), checked against the module's count.
def linear_count(d_s: int, d_r: int, k: int) -> int:
    return d_s * k * d_r + k * d_r + 1  # Linear(d_s, K*d_r) + output scale


def mlp_count(d_s: int, d_r: int, k: int) -> int:
    return (d_s * d_r + d_r) + (d_r * k * d_r + k * d_r) + 1  # two Linears + output scale


@pytest.mark.parametrize(
    ("architecture", "formula"), [("linear", linear_count), ("mlp", mlp_count)]
)
@pytest.mark.parametrize(("d_s", "d_r", "k"), [(48, 32, 5), (32, 32, 1), (4096, 4096, 32)])
def test_pooled_parameter_counts_match_the_formula(architecture, formula, d_s, d_r, k):
    shape = BridgeShape(d_sender=d_s, d_receiver=d_r, n_soft_tokens=k, architecture=architecture)
    with torch.device("meta"):  # the 4096-d shapes without allocating them
        bridge = make_bridge(shape, 0.0027)
    assert count_parameters(bridge) == formula(d_s, d_r, k)


def test_pooled_counts_at_the_exp003_setting():
    # 4096-d, K = 32 (method.md §1.4's exp003): concrete numbers, so a wrong formula shows too
    assert linear_count(4096, 4096, 32) == 537_001_985
    assert mlp_count(4096, 4096, 32) == 553_783_297


@pytest.mark.parametrize("architecture", ["mlp", "linear"])
def test_pooled_output_is_the_same_for_any_amount_of_padding(architecture):
    bridge = build(architecture)
    states = torch.randn(1, 4, D_SENDER)
    alone = bridge(states, torch.ones(1, 4)).soft_tokens
    # the same 4 real tokens padded to 9 with huge values, inside a batch with a longer row
    padded = torch.cat([states, 1e4 * torch.randn(1, 5, D_SENDER)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 9, D_SENDER)])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0, 0, 0], [1] * 9])
    torch.testing.assert_close(bridge(batch, mask).soft_tokens[:1], alone)


def test_masked_mean_averages_real_tokens_only_even_next_to_nan():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [float("nan"), float("inf")]]])
    mask = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(masked_mean(states, mask), torch.tensor([[2.0, 3.0]]))
    assert masked_mean(states, torch.zeros(1, 3)).eq(0).all()  # no real token: zeros, not NaN


@ARCHITECTURES
def test_gradient_reaches_every_parameter(architecture):
    bridge = build(architecture, normalize_sender=True)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    out = bridge(torch.randn(2, 6, D_SENDER), mask)
    # a target that is not a rescaling of the output, so even the scale gets a gradient
    (out.soft_tokens - torch.randn_like(out.soft_tokens)).pow(2).sum().backward()
    for name, param in bridge.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@ARCHITECTURES
def test_checkpoint_round_trip_rebuilds_the_architecture_with_identical_output(
    architecture, tmp_path
):
    trained = build(architecture)
    with torch.no_grad():  # weights no fresh init could give, so loading must really happen
        for param in trained.parameters():
            param.add_(0.1 * torch.randn_like(param))
    path = tmp_path / "bridge.pt"
    torch.save({"bridge_shape": vars(trained.shape), "bridge": trained.state_dict()}, path)
    state = torch.load(path, weights_only=True)
    torch.manual_seed(123)
    rebuilt = make_bridge(BridgeShape(**state["bridge_shape"]), 0.0027)
    rebuilt.load_state_dict(state["bridge"])
    assert type(rebuilt) is type(trained) and rebuilt.shape == trained.shape
    states, mask = torch.randn(2, 5, D_SENDER), torch.tensor([[1] * 5, [1, 1, 0, 0, 0]])
    assert torch.equal(rebuilt(states, mask).soft_tokens, trained(states, mask).soft_tokens)


def test_a_shape_saved_before_architectures_existed_rebuilds_a_perceiver():
    old = {"d_sender": D_SENDER, "d_receiver": D_RECEIVER, "n_soft_tokens": SOFT_TOKENS, "depth": 1}
    assert type(make_bridge(BridgeShape(**old), 0.0027)) is PerceiverBridge
