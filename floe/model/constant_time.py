"""Comparing secrets (tokens, passwords, signatures) in constant time, whatever text they hold."""

from __future__ import annotations

import hmac


def same_secret(a: str, b: str) -> bool:
    """Whether `a` equals `b`, in a time that does not tell where they differ. Any text compares:
    `hmac.compare_digest` refuses non-ASCII str, so both are compared as UTF-8 (`surrogatepass`
    keeps lone surrogates distinct, where `surrogateescape` would equal them to raw bytes)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
