"""Tests of telepathy/latency/ (see the package map in README.md)."""
