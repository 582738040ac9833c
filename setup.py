"""The package list, which pyproject.toml cannot express: gvis's own packages (found) plus the shipped folders
that ``[tool.setuptools.package-dir]`` maps into it (``configs/`` → ``gvis/configs``, ``checkpoints/`` →
``gvis/checkpoints``; ``packages.find`` only finds folders below ``gvis/``)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["gvis", "gvis.*"]) + ["gvis.configs", "gvis.checkpoints"])
