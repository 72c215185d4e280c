"""Node types that do work outside the hub: exec, fetch, git-checkout, git-merge, timer."""
