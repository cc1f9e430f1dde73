"""Command-line argument helpers shared by the commands."""

from __future__ import annotations

import argparse

import pytest

from telepathy.cli.args import EVAL_BATCH_SIZE, add_batch_size, check_batch_size


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    add_batch_size(parser)
    return parser.parse_args(argv)


def test_the_eval_batch_defaults_to_the_devices_and_an_explicit_one_is_kept():
    args = parse()
    check_batch_size(args)
    assert args.batch_size == EVAL_BATCH_SIZE["cpu"] == 128
    assert EVAL_BATCH_SIZE["cuda"] == 16  # the original's, on the cluster
    args = parse("--batch-size", "5")
    check_batch_size(args)
    assert args.batch_size == 5


def test_a_batch_size_below_one_names_the_value():
    with pytest.raises(ValueError, match="--batch-size must be >= 1, got 0"):
        check_batch_size(parse("--batch-size", "0"))
