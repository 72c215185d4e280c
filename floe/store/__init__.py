"""Durable state of runs: the RunStore protocol and its memory, local (SQLite) and S3 backends."""
