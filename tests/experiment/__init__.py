"""Tests of telepathy/experiment/ (see the package map in README.md)."""
