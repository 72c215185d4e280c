"""Run now: fire a timer or poll-git trigger at once, beside its schedule (the flow page's button).

A timer's run gets the trigger's opts, as a scheduled fire; its schedule is not moved. A poll-git
run is of one watched ref at its current commit (as a poll that saw it change): the ref asked
for, else the repository's default branch (its HEAD), else the only ref watched. The poll state is
not touched, so the poller still starts a run for each change it sees later."""

from __future__ import annotations

from floe.config.sources import SourceError, git_env, redact, run_git
from floe.model.errors import BadRequest
from floe.model.flow import Flow, Node
from floe.triggers.parts import TriggerParts
from floe.triggers.poll_git import LS_REMOTE_TIMEOUT, PollSpec, ls_remote, poll_spec, ref_values
from floe.triggers.status import TriggerStatus, trigger_keys

RUNNABLE = ("timer", "poll-git")


class CannotRunNow(BadRequest, ValueError):
    """The request names something that cannot run now; `field` is the input at fault."""


async def default_branch(spec: PollSpec) -> str:
    """The full ref the repository's HEAD points at ("" when it has none, e.g. a detached HEAD)."""
    result = await run_git(
        ["ls-remote", "--symref", "--", spec.url, "HEAD"],
        env=git_env(spec.key_file),
        timeout=LS_REMOTE_TIMEOUT,
    )
    if result.status:
        raise SourceError(f"git ls-remote {redact(spec.url)} failed: {result.why()}")
    for line in result.out.decode("utf-8", errors="replace").splitlines():
        target, _, name = line.partition("\t")
        if name.strip() == "HEAD" and target.startswith("ref: "):
            return target[len("ref: ") :].strip()
    return ""


def pick_ref(refs: dict[str, str], asked: str, head: str) -> str:
    """The watched ref to run: `asked` (a full ref, or a branch or tag name), else `head` when it
    is watched, else the only one; CannotRunNow (field `ref`) when that leaves none or several."""
    if asked:
        for ref in (asked, f"refs/heads/{asked}", f"refs/tags/{asked}"):
            if ref in refs:
                return ref
        raise CannotRunNow(f"{asked} is not a ref this trigger watches", "ref")
    if head in refs:
        return head
    if len(refs) == 1:
        return next(iter(refs))
    if not refs:
        raise CannotRunNow("the repository has no ref this trigger watches", "ref")
    raise CannotRunNow(f"name a ref: this trigger watches {len(refs)} and HEAD is not one of them", "ref")


async def run_now(
    parts: TriggerParts, status: TriggerStatus, flow: Flow, trig: Node, ref: str = "", by: str = ""
) -> str:
    """Start a run of `trig` now; its run id. CannotRunNow for another trigger type or a ref that
    is not watched, SourceError when the repository cannot be read, and what `parts.start` raises."""
    if trig.type not in RUNNABLE:
        raise CannotRunNow(
            f"trigger {trig.id} is a {trig.type} trigger: only timer and poll-git run now", "trigger"
        )
    values: dict[str, str] = {}
    if trig.type == "poll-git":
        spec = poll_spec(trig.opts, parts.config().common.git_key)
        refs = await ls_remote(spec)
        chosen = pick_ref(refs, ref, "" if ref else await default_branch(spec))
        values = ref_values(spec.url, chosen, refs[chosen])
    run_id = await parts.start(flow, trig.id, values, by=by)
    for key, _ in trigger_keys(parts.config(), trig.type):
        if (key.flow_id, key.ver, key.trigger_id) == (flow.id, flow.ver, trig.id):
            status.fired(key, parts.clock(), run_id)
    return run_id
