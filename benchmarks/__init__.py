"""Benchmarks of a real floe host on loopback: the figures of docs/benchmarks.md (`scripts/bench`)."""
