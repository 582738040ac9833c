"""Benchmarks behind `gvis bench`: they print figures, they assert nothing."""
