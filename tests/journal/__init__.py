"""The journal's tests: a task about to be recorded, as each of them records one."""

from __future__ import annotations

from ideogram_mcp.journal import Options, Pending


def pending(
    task_uuid: str, quote: float = 0.06, *, owner: str = "", requested: int = 1, options: Options | None = None
) -> Pending:
    """A generate_image task about to be recorded, approved as under the threshold."""
    return Pending(
        task_uuid=task_uuid,
        owner=owner,
        tool="generate_image",
        model="ideogram:4@1",
        task={"taskUUID": task_uuid, "positivePrompt": "x", "model": "ideogram:4@1"},
        requested=requested,
        quote=quote,
        options=options or Options(),
        approval="under threshold",
    )
