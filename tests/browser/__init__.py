"""Browser tests: the dashboard driven in headless Chromium against real hosts."""
