"""Triggers that start runs by themselves: timers, git polling and webhooks."""
