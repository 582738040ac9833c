"""Packaging beyond pyproject.toml: the shipped ``configs/`` and ``checkpoints/`` stay at the repository's top
level and install as the package data ``gvis/configs`` and ``gvis/checkpoints`` (found by gvis.resources).
pyproject's ``packages.find`` cannot map folders outside ``gvis/``, so the package list is made here."""
from setuptools import find_packages, setup

SHIPPED = {"gvis.configs": "configs", "gvis.checkpoints": "checkpoints"}

setup(packages=find_packages(include=["gvis", "gvis.*"]) + list(SHIPPED), package_dir=SHIPPED)
