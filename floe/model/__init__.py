"""Pure domain model: flows, events, run state and its transitions (no IO, no asyncio)."""
