"""floe: a distributed CI/CD and workflow engine."""

__version__ = "0.1.0"
