"""Tests of telepathy/grid/ (see the package map in README.md)."""
