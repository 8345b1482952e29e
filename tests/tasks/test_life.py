"""A paid task's life without MCP: a job handed to ``tasks.life.start`` with the server's services, an approver of
the test's own and the emulated Runware; what it ends in, what reached Runware, what the journal and the disk hold."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest

from ideogram_mcp import arguments, files
from ideogram_mcp.arguments import Generation, LocalInput
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator
from ideogram_mcp.emulator.faults import Fault
from ideogram_mcp.errors import Kind
from ideogram_mcp.files import LocalImage
from ideogram_mcp.images.recipes import KEPT_AT_RUNWARE
from ideogram_mcp.journal import CLOCKS_APART, Approval, Entry, Options
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.server import build_server
from ideogram_mcp.settings import Settings
from ideogram_mcp.specs import load_spec
from ideogram_mcp.tasks import fetch, life, outcomes
from ideogram_mcp.tasks.finish import WAITED_TOO_LONG
from ideogram_mcp.tasks.job import Cheaper, Job
from ideogram_mcp.tasks.services import IMAGE_LANES, Services

from ..conftest import API_KEY, png

OWNER = "owner-1"

pytestmark = pytest.mark.anyio


@dataclass
class Approver:
    """Says what the test tells it to, and remembers what it was asked."""

    verdict: Approval | outcomes.Declined | None = "under threshold"
    asked: list[tuple[float, str, float | None, str]] = field(default_factory=lambda: [])

    async def __call__(
        self, quote: float, what: str, approved_cost: float | None, task_uuid: str, cheaper: Cheaper
    ) -> Approval | outcomes.Declined | None:
        self.asked.append((quote, what, approved_cost, task_uuid))
        return self.verdict


@contextlib.asynccontextmanager
async def running(
    settings: Settings, transport: httpx2.AsyncBaseTransport, clock: ManualClock
) -> AsyncIterator[Services]:
    """The services of a server with these settings, for as long as the block runs."""
    async with anyio.create_task_group() as background:
        made = Services(settings, background=background, clock=clock, transport=transport)
        try:
            yield made
        finally:
            await made.aclose()
            background.cancel_scope.cancel()


@pytest.fixture
async def services(settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock) -> AsyncIterator[Services]:
    async with running(settings, transport, clock) as made:
        yield made


@pytest.fixture
def job(output: Path) -> Callable[..., Job]:
    """A ``generate_image`` job with these arguments (a one-image prompt unless told otherwise)."""

    def make(task_uuid: str | None = None, **given: Any) -> Job:
        spec = load_spec()
        generation = arguments.parse(spec, {"prompt": 'a sign reading "OPEN"', "numberResults": 1} | given)
        return Job("generate_image", spec, generation, OWNER, files.places(output, [], []), task_uuid=task_uuid)

    return make


async def test_a_job_runs_to_its_images_saved_and_recorded_under_one_task_uuid(
    services: Services, job: Callable[..., Job], emulator: Emulator, output: Path
) -> None:
    approver = Approver()
    outcome = await life.start(services, job(numberResults=2), approver)

    assert isinstance(outcome, outcomes.Made)
    assert outcome.status == "done"
    assert [Path(image.path or "").parent for image in outcome.images] == [output, output]
    assert all(Path(image.path or "").is_file() for image in outcome.images)
    (sent,) = emulator.submitted
    assert sent["taskUUID"] == outcome.entry.task_uuid == approver.asked[0][3]
    assert outcome.cost == pytest.approx(emulator.charged)
    stored = await services.journal.get(outcome.entry.task_uuid, OWNER)
    assert stored is not None
    assert stored.state == "done"
    assert stored.approval == "under threshold"
    assert [image.path for image in stored.images] == [image.path for image in outcome.images]


async def test_the_approver_is_asked_the_quote_and_what_the_job_makes(
    services: Services, job: Callable[..., Job]
) -> None:
    approver = Approver()
    await life.start(services, job(numberResults=3, renderingSpeed="QUALITY"), approver)
    ((quote, what, approved_cost, _),) = approver.asked
    assert quote == pytest.approx(3 * 0.09)
    assert what == "make 3 images with Ideogram 3.0"
    assert approved_cost is None


@pytest.mark.parametrize(
    "verdict",
    [None, outcomes.Declined(Kind.DECLINED, "The user declined.", {})],
    ids=["asking", "declined"],
)
async def test_a_spend_not_approved_sends_nothing_and_records_nothing(
    services: Services, job: Callable[..., Job], emulator: Emulator, verdict: outcomes.Declined | None
) -> None:
    outcome = await life.start(services, job(), Approver(verdict))

    assert outcome == (verdict or outcomes.Asking())
    assert emulator.arrived == []
    assert await services.journal.recent(OWNER, 10) == []


async def test_a_task_uuid_chosen_in_an_earlier_round_is_the_one_sent(
    services: Services, job: Callable[..., Job], emulator: Emulator
) -> None:
    chosen = str(uuid.uuid4())
    approver = Approver()
    outcome = await life.start(services, job(task_uuid=chosen), approver)

    assert isinstance(outcome, outcomes.Made)
    assert approver.asked[0][3] == chosen
    assert [task["taskUUID"] for task in emulator.submitted] == [chosen]


async def test_an_approval_used_twice_meets_the_task_recorded_already(
    services: Services, job: Callable[..., Job], emulator: Emulator
) -> None:
    chosen = str(uuid.uuid4())
    await life.start(services, job(task_uuid=chosen), Approver())
    again = await life.start(services, job(task_uuid=chosen), Approver())

    assert again == outcomes.SentBefore(chosen)
    assert len(emulator.submitted) == 1


async def test_a_dry_run_shows_the_task_and_its_price_and_sends_nothing(
    services: Services, job: Callable[..., Job], emulator: Emulator
) -> None:
    approver = Approver()
    outcome = await life.start(services, job(numberResults=2, dryRun=True), approver)

    assert isinstance(outcome, outcomes.DryRun)
    assert outcome.task["model"] == "ideogram:4@1"
    assert outcome.task["numberResults"] == 2
    assert outcome.quote == pytest.approx(2 * 0.06)
    assert approver.asked == []
    assert emulator.arrived == []


@pytest.fixture
def start_with(
    make_settings: Callable[..., Settings], transport: httpx2.ASGITransport, clock: ManualClock, output: Path
) -> Callable[..., Awaitable[outcomes.Outcome]]:
    """``life.start`` of a job, with its approver, on a server whose settings change as given."""

    async def start(made: Job, approver: Approver, **changes: Any) -> outcomes.Outcome:
        async with running(make_settings(output_dir=output, **changes), transport, clock) as services:
            return await life.start(services, made, approver)

    return start


async def test_a_quote_over_the_per_call_limit_is_refused_before_approval(
    start_with: Callable[..., Awaitable[outcomes.Outcome]], job: Callable[..., Job], emulator: Emulator
) -> None:
    approver = Approver()
    outcome = await start_with(job(numberResults=2), approver, max_cost_per_call=0.1)

    assert outcome == outcomes.OverCallLimit(pytest.approx(0.12), 0.1, "at most 1 image")  # pyright: ignore[reportArgumentType]
    assert approver.asked == []
    assert emulator.arrived == []


@pytest.mark.parametrize(
    ("confirm_above", "first", "asked"),
    [(0.0, None, 0), (1.0, "upload", 0), (1.0, "prepare", 0), (1.0, None, 1)],
    ids=["a question to come", "an upload to come", "a tool's preparing to come", "none"],
)
async def test_a_day_over_budget_is_refused_before_a_question_an_upload_or_preparing_else_when_recorded(
    start_with: Callable[..., Awaitable[outcomes.Outcome]],
    job: Callable[..., Job],
    emulator: Emulator,
    output: Path,
    confirm_above: float,
    first: str | None,
    asked: int,
) -> None:
    # The day's budget is read before the user is asked, a file is uploaded or a tool prepares its task (an edit's
    # region copies its image at Runware); otherwise the transaction that records the task reads it (every call
    # saves the reads), and refuses alike: nothing reaches Runware.
    output.mkdir(parents=True, exist_ok=True)
    (output / "look.png").write_bytes(png())
    given = {"styleReferenceImages": [str(output / "look.png")]} if first == "upload" else {}
    prepared: list[bool] = []

    async def prepare(generation: Generation, read: Mapping[LocalInput, LocalImage], may_send: bool) -> Generation:
        prepared.append(may_send)
        return generation

    made = job(numberResults=2, **given)
    if first == "prepare":
        made = dataclasses.replace(made, prepare=prepare)
    approver = Approver()
    outcome = await start_with(made, approver, daily_budget=0.1, confirm_above=confirm_above)

    assert outcome == outcomes.OverBudget(pytest.approx(0.12), 0.1, 0.0, "at most 1 image")  # pyright: ignore[reportArgumentType]
    assert len(approver.asked) == asked
    assert True not in prepared  # checked (may_send=False) at most, never run to send
    assert emulator.arrived == []


async def test_a_task_runware_refused_is_failed_in_the_journal_and_not_charged(
    services: Services, job: Callable[..., Job], emulator: Emulator
) -> None:
    emulator.faults.append(
        Fault.error(400, "invalidParameter", "Invalid value for width.", "width", on="imageInference")
    )
    outcome = await life.start(services, job(), Approver())

    assert isinstance(outcome, outcomes.SendFailed)
    assert outcome.error.may_have_run is False
    assert outcome.task_uuid is not None
    stored = await services.journal.get(outcome.task_uuid, OWNER)
    assert stored is not None
    assert stored.state == "failed"
    assert emulator.charged == 0


async def test_an_answer_lost_after_runware_did_the_work_is_fetched_by_polling_never_sent_again(
    services: Services, job: Callable[..., Job], emulator: Emulator
) -> None:
    emulator.faults.append(Fault.drop(on="imageInference"))
    outcome = await life.start(services, job(), Approver())

    assert isinstance(outcome, outcomes.Made)
    assert outcome.status == "done"
    sent = {task["taskUUID"] for task in emulator.submitted}
    assert sent == {outcome.entry.task_uuid}
    assert emulator.charged == pytest.approx(0.06)
    assert len(outcome.images) == 1


async def test_a_saved_file_gone_is_found_with_previews_off_by_a_look_not_a_lane_or_a_read(
    services: Services, job: Callable[..., Job], clock: ManualClock
) -> None:
    made = await life.start(services, job(numberResults=2), Approver())
    assert isinstance(made, outcomes.Made)
    deleted, kept = (Path(image.path or "") for image in made.images)
    deleted.unlink()
    for _ in range(IMAGE_LANES):  # every lane busy: looking at the files needs none
        await services.lanes.acquire()
    started = clock.monotonic()
    again = await fetch.again(services, made.entry.task_uuid, OWNER, made.places, preview=False)
    assert isinstance(again, outcomes.Made)
    assert clock.monotonic() == started, "answered at once"
    assert again.gone == {made.images[0].image_uuid: str(deleted)}
    assert [image.path for image in again.images] == [None, str(kept)]
    for _ in range(IMAGE_LANES):
        services.lanes.release()


async def test_without_a_key_nothing_is_sent(
    make_settings: Callable[..., Settings],
    transport: httpx2.ASGITransport,
    clock: ManualClock,
    job: Callable[..., Job],
    output: Path,
) -> None:
    async with running(make_settings(output_dir=output, runware_api_key=None), transport, clock) as services:
        outcome = await life.start(services, job(), Approver())

    assert outcome == outcomes.NotConfigured()


async def test_a_call_that_waits_past_its_deadline_for_an_image_lane_answers_with_urls_saved_later(
    services: Services, job: Callable[..., Job], output: Path
) -> None:
    for _ in range(IMAGE_LANES):  # every lane busy with other calls
        await services.lanes.acquire()
    outcome = await life.start(services, job(numberResults=2), Approver())

    assert isinstance(outcome, outcomes.Made)
    assert outcome.status == "done"
    assert [(image.path, image.problem) for image in outcome.images] == [(None, WAITED_TOO_LONG)] * 2
    assert all(image.image_url for image in outcome.images)
    assert outcome.previews == []
    assert list(output.glob("*.jpg")) == []

    for _ in range(IMAGE_LANES):
        services.lanes.release()
    again = await fetch.again(services, outcome.entry.task_uuid, OWNER, outcome.places)
    assert isinstance(again, outcomes.Made)
    assert all(image.path and Path(image.path).is_file() for image in again.images)
    assert len(again.previews) == 2


async def test_a_folder_found_writable_is_probed_again_only_after_a_while(
    services: Services, job: Callable[..., Job], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[Path] = []
    real = services.store.unwritable

    def counted(folder: Path, longest: str = "") -> str | None:
        probed.append(folder)
        return real(folder, longest)

    monkeypatch.setattr(services.store, "unwritable", counted)
    for _ in range(3):
        assert isinstance(await life.start(services, job(), Approver()), outcomes.Made)
    assert len(probed) == 1
    await clock.sleep(life.WRITABLE_KEPT)
    assert isinstance(await life.start(services, job(), Approver()), outcomes.Made)
    assert len(probed) == 2


async def test_what_a_process_keeps_of_folders_and_uploads_is_forgotten_once_of_no_more_use(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    # A server saving in a folder a day, or uploading a new image each call, had kept an entry of each for as long as
    # it served (found by an audit of a server running for days).
    folders = [tmp_path / f"day-{day}" for day in range(4)]
    images = [f"data:image/png;base64,{base64.b64encode(png(colour=(day, 0, 0))).decode()}" for day in range(4)]
    for folder, image in zip(folders[:3], images[:3], strict=True):
        assert await life._unwritable(services, folder, "poster.png") is None  # pyright: ignore[reportPrivateUsage]
        digest = hashlib.sha256(image.encode()).hexdigest()
        await services.upload(digest, image, clock.monotonic() + 30)
        services.measured[digest] = (8, 8)
    await clock.sleep(KEPT_AT_RUNWARE.total_seconds() + 1)
    assert await life._unwritable(services, folders[3], "poster.png") is None  # pyright: ignore[reportPrivateUsage]
    latest = hashlib.sha256(images[3].encode()).hexdigest()
    uuid, _ = await services.upload(latest, images[3], clock.monotonic() + 30)
    assert list(services.writable) == [(folders[3], len("poster.png"))]
    assert services.uploads == {latest: (uuid, (clock.now(), clock.monotonic()))}
    assert services.measured == {}


async def test_a_task_an_approved_round_sends_twice_at_once_stays_this_process_s_whichever_records_it(
    services: Services, job: Callable[..., Job], emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The call that noted the task first met the other's record (a duplicate) and forgot the task as this process's,
    # while the other sent it: the taking up of other processes' tasks would have taken it up (found by review).
    chosen, real, second_recorded = str(uuid.uuid4()), services.journal.record, anyio.Event()
    calls: list[int] = []
    seen_while_sending: list[bool] = []

    async def record(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the first call's transaction comes after the second's
            await second_recorded.wait()
            return await real(*args, **kwargs)
        entry = await real(*args, **kwargs)
        second_recorded.set()
        return entry

    async def watch() -> None:
        await second_recorded.wait()
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        seen_while_sending.append(chosen in services.sent)

    monkeypatch.setattr(services.journal, "record", record)
    emulator.render_seconds = 30.0
    outcomes_of: list[object] = []

    async def call() -> None:
        outcomes_of.append(await life.start(services, job(task_uuid=chosen), Approver()))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        group.start_soon(call)
        group.start_soon(watch)
    assert [t["taskUUID"] for t in emulator.submitted] == [chosen]
    assert seen_while_sending == [True]
    assert chosen in services.sent
    assert sorted(type(outcome).__name__ for outcome in outcomes_of) == ["Made", "SentBefore"]


async def test_an_unexpected_failure_is_logged_without_the_key_whatever_handles_the_log(
    settings: Settings,
    services: Services,
    job: Callable[..., Job],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A host embedding the server (build_server, no CLI) logs through handlers of its own: pytest's capture is one.
    build_server(settings)
    assert services.delivery is not None

    async def failing(*_: object, **__: object) -> None:
        raise RuntimeError(f"a library's message quoting the header: Authorization: Bearer {API_KEY}")

    monkeypatch.setattr(services.delivery, "wait", failing)
    with caplog.at_level(logging.ERROR, logger="ideogram_mcp"):
        assert isinstance(await life.start(services, job(), Approver()), outcomes.Troubled)
    (record,) = caplog.records
    assert "unexpected failure after it was sent" in record.getMessage()
    assert "Authorization: Bearer [redacted]" in caplog.text  # the traceback is kept, the key blanked in it
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("save", [True, False])
async def test_a_process_keeps_the_tasks_it_sent_as_its_own_saving_or_not(
    save: bool, settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock, job: Callable[..., Job]
) -> None:
    # With saving off its tasks are followed to their outcome too: its own had been taken up as another process's,
    # beside its call (what it keeps is pruned by age, saving or not).
    async with running(settings.model_copy(update={"save": save}), transport, clock) as services:
        outcome = await life.start(services, job(), Approver())
        assert isinstance(outcome, outcomes.Made)
        entry = await services.journal.get(outcome.entry.task_uuid, OWNER)
    assert list(services.sent) == [outcome.entry.task_uuid]
    assert entry is not None
    assert entry.options.wait == settings.wait_seconds, "the journal says how long its call waited, for the others"


async def test_a_process_keeps_when_it_recorded_its_tasks_for_a_day_only(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock, job: Callable[..., Job]
) -> None:
    # Kept for Services.age whatever saving is, so that it stays bounded: a day, the longest any task is looked at.
    async with running(settings.model_copy(update={"save": False}), transport, clock) as services:
        first = await life.start(services, job(), Approver())
        await clock.advance(86_000)
        second = await life.start(services, job(), Approver())
        await clock.advance(1_000)
        third = await life.start(services, job(), Approver())
        clock.set_wall(clock.now() - 3_600)  # stepped back: the ages the monotonic clock gives hold
        made = [first, second, third]
        assert all(isinstance(outcome, outcomes.Made) for outcome in made)
        ages = [services.age(o.entry.task_uuid, o.entry.created) for o in made if isinstance(o, outcomes.Made)]
    assert isinstance(second, outcomes.Made)
    assert isinstance(third, outcomes.Made)
    assert list(services._recorded) == [second.entry.task_uuid, third.entry.task_uuid]  # pyright: ignore[reportPrivateUsage]
    assert ages[1:] == [pytest.approx(1_000, abs=1), pytest.approx(0, abs=1)]
    assert ages[0] == pytest.approx(87_000, abs=1), "forgotten: as another process's, the step back added"


async def test_another_process_may_still_be_sending_its_task_whatever_this_clock_was_stepped_back_before(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock
) -> None:
    # How long this process's wall clock fell behind (added to ages, so that a charged task is never "never
    # accepted") may all have come before the task: the sender's window had closed at once (found by review).
    async with running(settings, transport, clock) as services:
        await clock.advance(700)
        clock.set_wall(clock.now() - 300)
        options = Options(wait=30.0)
        sent = Entry("t", OWNER, "generate_image", "ideogram:4@1", {}, 1, 0.06, None, "pending", [], [], options, 0, 0)
        just_now = dataclasses.replace(sent, created=clock.now() - 10)
        long_ago = dataclasses.replace(sent, created=clock.now() - 30 - CLOCKS_APART - 1)
        assert services.may_be_sending(just_now)
        assert not services.may_be_sending(long_ago)
        assert services.age("t", just_now.created) == pytest.approx(310), "an age, though, counts the step back"


async def test_an_image_another_finish_saved_first_is_answered_with_its_path_and_this_copy_removed(
    services: Services, job: Callable[..., Job], output: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This finish's claim ran out while it downloaded; another finish claimed the image, saved it and recorded it
    # first. This one's copy goes, and the agent is told where the image is.
    journal = services.journal
    real = journal.stored
    other = output / "saved-by-the-other.png"

    async def another_first(task_uuid: str, record: ImageRecord, *, by: str) -> Any:
        other.write_bytes(png())
        await real(task_uuid, record.with_(path=str(other)), by="another finish")
        return await real(task_uuid, record, by=by)

    monkeypatch.setattr(journal, "stored", another_first)
    outcome = await life.start(services, job(), Approver())
    assert isinstance(outcome, outcomes.Made)
    assert [image.path for image in outcome.images] == [str(other)]
    assert sorted(p.name for p in output.iterdir()) == ["saved-by-the-other.png"]


async def test_get_generation_waits_at_most_the_server_s_wait_whatever_it_asks(
    make_settings: Callable[..., Settings],
    transport: httpx2.ASGITransport,
    clock: ManualClock,
    emulator: Emulator,
    job: Callable[..., Job],
    output: Path,
) -> None:
    emulator.render_seconds = 5000.0
    async with running(make_settings(output_dir=output, wait_seconds=20.0), transport, clock) as services:
        made = await life.start(services, job(), Approver())
        assert isinstance(made, outcomes.Made)
        started = clock.monotonic()
        again = await fetch.again(services, made.entry.task_uuid, OWNER, made.places, wait=600.0)
        waited = clock.monotonic() - started
    assert isinstance(again, outcomes.Made)
    assert again.status == "pending"
    assert waited <= 20.0 + 1.0, f"get_generation waited {waited} s, past the server's 20 s"


async def test_another_process_may_still_be_sending_its_task_while_the_clocks_may_differ(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock
) -> None:
    async with running(settings, transport, clock) as services:
        options = Options(wait=30.0)
        sent = Entry("t", OWNER, "generate_image", "ideogram:4@1", {}, 1, 0.06, None, "pending", [], [], options, 0, 0)
        within_skew = dataclasses.replace(sent, created=clock.now() - 30 - CLOCKS_APART / 2)
        assert services.may_be_sending(within_skew)


async def test_a_task_this_process_is_still_sending_may_yet_reach_runware_however_long_ago_it_was_recorded(
    settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock
) -> None:
    # Its submission waiting out a 429 meanwhile: a get_generation then must not fail it as never accepted (cost 0,
    # off the day's spend) when Runware takes it and charges it a moment later.
    async with running(settings, transport, clock) as services:
        services.recorded("t")
        services.recording_over("t", recorded=True)
        options = Options(wait=30.0)
        sent = Entry("t", OWNER, "generate_image", "ideogram:4@1", {}, 1, 0.06, None, "pending", [], [], options, 0, 0)
        long_ago = dataclasses.replace(sent, created=clock.now() - 30 - CLOCKS_APART - 600)
        services.sending.add("t")
        assert services.may_be_sending(long_ago)
        services.sending.discard("t")
        assert not services.may_be_sending(long_ago)


async def test_a_task_refused_when_it_was_to_be_recorded_is_not_kept_as_this_process_s(
    make_settings: Callable[..., Settings],
    transport: httpx2.ASGITransport,
    clock: ManualClock,
    job: Callable[..., Job],
    output: Path,
) -> None:
    # Refused (the calls a minute), it was never recorded here: were another process to record and send that taskUUID
    # (an approved round sent again through another HTTP worker) and die, this one must take it up, not skip it.
    async with running(make_settings(output_dir=output, max_calls_per_minute=1), transport, clock) as services:
        assert isinstance(await life.start(services, job(), Approver()), outcomes.Made)
        chosen = "7b0a3f4e-0c55-4c1e-9a51-0c3c1b7d2a10"
        refused = await life.start(services, job(task_uuid=chosen), Approver())
        assert isinstance(refused, outcomes.TooManyCalls)
        assert chosen not in services.sent


async def test_a_done_task_with_one_image_unsaved_is_saved_by_the_next_process(
    make_settings: Callable[..., Settings],
    emulator: Emulator,
    clock: ManualClock,
    job: Callable[..., Job],
    output: Path,
) -> None:
    # A paid image whose download failed while its sibling saved: the next process takes the task up and saves it.
    inner = httpx2.ASGITransport(emulator.app())
    refused: list[str] = []

    class OneDownloadFails(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.method == "GET" and "/image/" in request.url.path and not refused:
                refused.append(request.url.path)
                return httpx2.Response(404)
            return await inner.handle_async_request(request)

    settings = make_settings(output_dir=output)
    async with running(settings, OneDownloadFails(), clock) as first:
        made = await life.start(first, job(numberResults=2), Approver())
    assert isinstance(made, outcomes.Made)
    assert made.status == "done"
    assert sorted(image.path is None for image in made.images) == [False, True]
    async with running(settings, inner, clock) as second:
        fetch.resume_cut_short(second, OWNER, made.places)
        await clock.sleep(600)
        entry = await second.journal.get(made.entry.task_uuid, OWNER)
    assert entry is not None
    assert all(image.path and Path(image.path).is_file() for image in entry.images)
    assert len(emulator.submitted) == 1
