"""Tests of telepathy/report/ (see the package map in README.md)."""
