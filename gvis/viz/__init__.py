"""Visualisation: overlay videos, GIFs and frame strips of tracking results."""
