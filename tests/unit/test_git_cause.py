"""git's first meaningful line, from its real output: the cause, not the tail of its advice."""

from __future__ import annotations

import pytest

from floe.config.sources import git_cause

NOT_A_REPO = """Cloning into 'x'...
fatal: '/tmp/nowhere.git' does not appear to be a git repository
fatal: Could not read from remote repository.

Please make sure you have the correct access rights
and the repository exists.
"""
NO_HOST = """Cloning into 'y'...
ssh: Could not resolve hostname git.example: Name or service not known
fatal: Could not read from remote repository.

Please make sure you have the correct access rights
and the repository exists.
"""
CONFLICT = """Auto-merging a.txt
CONFLICT (content): Merge conflict in a.txt
Automatic merge failed; fix conflicts and then commit the result.
"""


@pytest.mark.parametrize(
    ("output", "cause"),
    [
        (NOT_A_REPO, "fatal: '/tmp/nowhere.git' does not appear to be a git repository"),
        (NO_HOST, "ssh: Could not resolve hostname git.example: Name or service not known"),
        (CONFLICT, "CONFLICT (content): Merge conflict in a.txt"),
        ("remote: Counting objects: 3\nsomething odd happened\n", "something odd happened"),
        (
            "fatal: unable to access 'https://u:secret@h/r.git/': 403\n",
            "fatal: unable to access 'https://u:***@h/r.git/': 403",
        ),
        ("Cloning into 'z'...\n\n", ""),
    ],
)
def test_the_first_meaningful_line_is_the_cause(output: str, cause: str) -> None:
    assert git_cause(output.splitlines()) == cause
