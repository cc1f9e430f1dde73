"""Tests on the real SLURM test cluster (slurm/testcluster); a package so its conftest does not
shadow tests/conftest.py, whose helpers other test modules import as `conftest`."""
