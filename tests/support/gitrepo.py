"""Real bare git repositories over file:// for trigger and flow-source tests."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


class Repo:
    """A bare repository `<root>/<name>.git` (default branch `main`) and a work tree that pushes to it."""

    def __init__(self, root: Path, name: str = "remote") -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        root.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=root)
        git("init", "-q", "-b", "main", str(self.work), cwd=root)
        git("config", "user.name", "Test", cwd=self.work)
        git("config", "user.email", "test@example.invalid", cwd=self.work)
        git("config", "commit.gpgsign", "false", cwd=self.work)
        git("remote", "add", "origin", self.url, cwd=self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main") -> str:
        """Write `files` on `branch` (created from the current branch if new), commit, push; the new hash."""
        branches = git("branch", "--list", "--format=%(refname:short)", cwd=self.work).split()
        current = git("symbolic-ref", "--short", "HEAD", cwd=self.work)
        if branch != current:
            git("checkout", "-q", *(() if branch in branches else ("-b",)), branch, cwd=self.work)
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            git("add", name, cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"{branch}:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def delete_branch(self, branch: str) -> None:
        git("push", "-q", "origin", f":refs/heads/{branch}", cwd=self.work)
