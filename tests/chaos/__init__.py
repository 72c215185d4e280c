"""Chaos and abuse tests: kill -9, a stalled websocket, a full disk, fuzzed API input, broken YAML."""
