"""Tests of telepathy/baselines/ (see the package map in README.md)."""
