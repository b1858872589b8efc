"""Plots (matplotlib, Agg) and reports written from measured numbers."""
