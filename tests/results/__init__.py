"""Tests of telepathy/results/ (see the package map in README.md)."""
