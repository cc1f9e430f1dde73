"""Tests of telepathy/models/ (see the package map in README.md)."""
