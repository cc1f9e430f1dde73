"""Telepathy: train and evaluate a latent bridge between two frozen causal language models."""

__version__ = "0.1.0"
