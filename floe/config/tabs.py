"""A YAML scanner that takes a tab inside a line as a space, as Go's YAML does (never as indentation)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.scanner import RoundTripScanner

_LINE_END = "\0\r\n\x85\u2028\u2029"


class TabScanner(RoundTripScanner):
    """ruamel's round-trip scanner, except that tabs separate tokens inside a line: after `key:`,
    between a key and its value, after a value and before a comment; and a tab between two words
    of a plain scalar stays in its value (`a: b<TAB>c` is `"b\\tc"`). A tab in a line's indentation
    is still an error, as in YAML and in Go. Nothing of the text changes, so marks keep their lines."""

    def scan_to_next_token(self) -> Any:
        reader = self.reader
        if reader.peek() in " \t" and not self._in_indentation():
            while reader.peek() in " \t":
                reader.forward()
        return super().scan_to_next_token()

    def scan_plain_spaces(self, indent: Any, start_mark: Any) -> Any:
        reader = self.reader
        length = 0
        while reader.peek(length) in " \t":
            length += 1
        after = reader.peek(length)
        if "\t" in reader.prefix(length) and after not in _LINE_END and after != "#":
            whitespace = reader.prefix(length)  # between two words of the scalar: part of it
            reader.forward(length)
            return [whitespace]
        return super().scan_plain_spaces(indent, start_mark)

    def _in_indentation(self) -> bool:
        """True when only blanks precede the reader's position on its line."""
        reader = self.reader
        return not reader.buffer[reader.pointer - reader.column : reader.pointer].strip(" \t")
