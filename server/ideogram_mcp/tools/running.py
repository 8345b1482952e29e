"""What every image tool does with a call: its arguments checked against its model's spec, the job handed to the
task's life (``tasks.life``), and the outcome said (``wording``). The tools load it at their first call: a start
needs none of the tasks' machinery."""

from __future__ import annotations

from collections.abc import Sequence

import mcp_types as types

from ideogram_mcp import arguments
from ideogram_mcp.settings import ENV
from ideogram_mcp.specs import ModelSpec
from ideogram_mcp.tasks import life, outcomes
from ideogram_mcp.tasks.job import Job, Prepare
from ideogram_mcp.tools import (
    Context,
    announce_new_images,
    owner,
    places,
    reporter,
    results,
    saved_later,
    spending,
    wording,
)
from ideogram_mcp.tools.questions import Questions


async def run(
    ctx: Context,
    params: types.CallToolRequestParams,
    spec: ModelSpec,
    *,
    own: frozenset[str] = frozenset(),
    also: frozenset[str] = frozenset(),
    supplied: frozenset[str] = frozenset(),
    problems: Sequence[arguments.Problem] = (),
    prepare: Prepare | None = None,
) -> types.CallToolResult | types.InputRequiredResult:
    """Check an image tool's arguments against its model's spec, then run the job and say how it ended.

    ``own`` are the tool's own arguments as given, checked by the tool (``problems`` holds what it found), ``also``
    their names; ``supplied`` are required parameters the tool's ``prepare`` fills in.
    """
    try:
        generation = arguments.parse(spec, params.arguments or {}, supplied=supplied, own=own, also=also)
    except arguments.InvalidArgumentsError as exc:
        return results.invalid([*problems, *exc.problems])
    if problems:
        return results.invalid(problems)
    state = ctx.lifespan_context
    questions = Questions(ctx, params)
    where = await places(ctx, questions)
    if where is None:  # the client's roots are asked for first: where images go decides which files may be read
        return questions.asking()
    job = Job(params.name, spec, generation, owner(ctx), where, prepare, questions.task_uuid, saved_later(ctx))
    outcome = await life.start(state.services, job, spending.approver(ctx, questions), reporter(ctx))
    if isinstance(outcome, outcomes.Asking):
        return questions.asking()
    if isinstance(outcome, outcomes.Made) and outcome.saved_new:
        await announce_new_images(ctx)
    said = await wording.said(outcome, state.settings.runware_api_key)
    chose = ((arguments.FILE_NAME, generation.file_name), (arguments.OUTPUT_DIR, generation.output_dir))
    unused = [name for name, value in chose if value]
    if unused and not state.settings.save and isinstance(outcome, outcomes.Made) and not said.is_error:
        # Never dropped unsaid: the user turned saving off, so the names an agent chose name no file.
        results.also(
            said,
            f"{' and '.join(unused)} had no effect: this server saves no files ({ENV.save}=false); the images are at "
            "their URLs.",
        )
    return said
