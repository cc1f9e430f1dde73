"""Tests of telepathy/data/ (see the package map in README.md)."""
