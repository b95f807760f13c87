"""Benchmarks: each prints its figures as JSON, with ratios against a baseline of the same run."""
