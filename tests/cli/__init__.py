"""Tests of telepathy/cli/ (see the package map in README.md)."""
