"""Parsing config and flow-file sources, and resolving relative flow-files against a config's source."""

from __future__ import annotations

import os

import pytest

from floe.config.sources import Source, SourceError, parse_source, redact, resolve_relative


def test_git_plus_url_with_path_and_ref() -> None:
    src = parse_source("git+file:///tmp/x/repo.git#flows/build.yml@main")
    assert src == Source("git", "file:///tmp/x/repo.git", "flows/build.yml", "main")
    assert str(src) == "git+file:///tmp/x/repo.git#flows/build.yml@main"
    assert parse_source(str(src)) == src


def test_git_plus_url_without_ref_is_the_default_branch() -> None:
    src = parse_source("git+ssh://git@example.com/org/repo.git#ci/floe.yml")
    assert src == Source("git", "ssh://git@example.com/org/repo.git", "ci/floe.yml", "")


def test_floe_scp_form() -> None:
    src = parse_source("git@github.com:org/repo.git/path/file.yaml")
    assert src == Source("git", "git@github.com:org/repo.git", "path/file.yaml", "")
    assert parse_source(str(src)) == src


@pytest.mark.parametrize(
    "spec",
    [
        "git+file:///r.git",  # no path
        "git+file:///r.git#",  # empty path
        "git+file:///r.git#dir/",  # a directory
        "git+file:///r.git#a.yml@",  # empty ref
        "git+file:///r.git#../x.yml",  # leaves the repository
        "git+--upload-pack=evil#x.yml",  # an option, not a URL
        "git+file:///r.git#x.yml@--output=x",
        "git@github.com:org/repo/file.yaml",  # cannot tell repo from file
        "",
    ],
)
def test_bad_sources(spec: str) -> None:
    with pytest.raises(SourceError):
        parse_source(spec)


def test_http_and_files() -> None:
    assert parse_source("https://example.com/f.yml") == Source("http", "https://example.com/f.yml")
    assert parse_source("floe.yml") == Source("file", "floe.yml")
    assert parse_source("file:///etc/floe.yml") == Source("file", "/etc/floe.yml")
    assert parse_source("~/floe.yml") == Source("file", os.path.expanduser("~") + "/floe.yml")


def test_relative_to_a_local_config() -> None:
    base = parse_source("/etc/floe/config.yml")
    assert resolve_relative(base, "floe.yml") == Source("file", "/etc/floe/floe.yml")
    assert resolve_relative(base, "/abs/floe.yml") == Source("file", "/abs/floe.yml")
    assert resolve_relative(None, "floe.yml") == Source("file", "floe.yml")


def test_relative_to_a_git_config_is_the_same_repo_and_ref() -> None:
    base = parse_source("git+https://h/r.git#conf/host.yml@release")
    assert resolve_relative(base, "flows/build.yml") == Source(
        "git", "https://h/r.git", "conf/flows/build.yml", "release"
    )
    assert resolve_relative(base, "../top.yml") == Source("git", "https://h/r.git", "top.yml", "release")
    with pytest.raises(SourceError):
        resolve_relative(base, "../../outside.yml")
    other = "git+https://h/other.git#x.yml@main"
    assert resolve_relative(base, other) == parse_source(other)


def test_relative_to_an_http_config() -> None:
    base = parse_source("https://h/conf/host.yml")
    assert resolve_relative(base, "flows/b.yml") == Source("http", "https://h/conf/flows/b.yml")


def test_redact_hides_passwords() -> None:
    assert redact("git+https://me:s3cret@h/r.git#x") == "git+https://me:***@h/r.git#x"
