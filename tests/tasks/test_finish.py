"""What a task Runware forgets after some of its images came is counted at: the images here, those it said failed
(a garbled one charged), and the rest, which never came and may have run, each once, however often it is fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from ideogram_mcp import files
from ideogram_mcp.clock import ManualClock
from ideogram_mcp.images.downloads import Kept
from ideogram_mcp.images.formats import FORMATS
from ideogram_mcp.journal import Entry, Limits, Options, Pending
from ideogram_mcp.records import ImageRecord
from ideogram_mcp.runware.answers import Snapshot, absorb
from ideogram_mcp.runware.errors import ErrorDetail
from ideogram_mcp.settings import Settings
from ideogram_mcp.tasks import saving
from ideogram_mcp.tasks.finish import finish
from ideogram_mcp.tasks.outcomes import Made
from ideogram_mcp.tasks.services import Services

from ..conftest import png
from .test_life import running

pytestmark = pytest.mark.anyio

OWNER = "owner-1"
T = "11111111-1111-4111-8111-111111111111"
LOST = ErrorDetail("taskFailedOrNotFound", "no such task", task_uuid=T)
RUNNING = {"taskType": "imageInference", "taskUUID": T, "status": "processing"}


@pytest.fixture
async def services(settings: Settings, transport: httpx2.ASGITransport, clock: ManualClock) -> AsyncIterator[Services]:
    async with running(settings, transport, clock) as made:
        yield made


def polled(snapshot: Snapshot, items: Sequence[Mapping[str, Any]], errors: Sequence[ErrorDetail] = ()) -> Snapshot:
    absorb(snapshot, items, errors)
    return snapshot


def done(n: int, **changes: Any) -> dict[str, Any]:
    image = f"00000000-0000-4000-8000-00000000000{n}"
    item = {"taskType": "imageInference", "taskUUID": T, "status": "success", "imageUUID": image, "cost": 0.06}
    return item | {"imageURL": f"https://im.runware.ai/{n}.jpg"} | changes


async def recorded(services: Services, requested: int) -> Entry:
    pending = Pending(
        T,
        OWNER,
        "generate_image",
        "ideogram:4@1",
        {"taskUUID": T},
        requested,
        0.06 * requested,
        Options(save=False),
        "under threshold",
    )
    return await services.journal.record(pending, Limits())


async def finished(services: Services, entry: Entry, snapshot: Snapshot, tmp_path: Path) -> list[str]:
    where = files.places(tmp_path, [], [])
    made = await finish(services, entry, snapshot, where, False, services.clock.monotonic() + 1)
    assert isinstance(made, Made)
    return list(made.failures)


async def journaled(services: Services, entry: Entry, snapshot: Snapshot, tmp_path: Path) -> Entry:
    """The task as the journal holds it once ``snapshot`` was finished (its images made so far)."""
    await finished(services, entry, snapshot, tmp_path)
    return await services.journal.get(T, OWNER) or entry


async def first_unusable(services: Services, tmp_path: Path) -> Entry:
    """A task of two images whose first call heard the first one finished but unusable, twice (failed and charged),
    the other still rendering: as the journal holds it."""
    entry = await recorded(services, 2)
    garbled = done(1, imageURL=None)
    twice = polled(polled(Snapshot(T, 2), [garbled, RUNNING]), [garbled, RUNNING])
    return await journaled(services, entry, twice, tmp_path)


@pytest.mark.parametrize("when", ["in its call", "after an answer saying nothing of it", "fetched later"])
async def test_a_garbled_image_stays_charged_when_runware_then_forgets_the_task(
    when: str, services: Services, tmp_path: Path
) -> None:
    # The answer about the forgotten task holds no items, and the garbled image's charge was cleared with it (in the
    # call), or written over by a later fetch that knew none (later): $0.12 where three images were paid for.
    entry = await recorded(services, 3)
    garbled = done(2, imageURL=None)
    snapshot = polled(polled(Snapshot(T, 3), [done(1), garbled, RUNNING]), [done(1), garbled, RUNNING])
    if when == "after an answer saying nothing of it":  # a poll whose only word on it was a passing fault
        snapshot = polled(snapshot, [])  # it had dropped the garbled image's failure, kept its charge: both counted
    if when == "fetched later":
        await finished(services, entry, snapshot, tmp_path)
        entry, snapshot = await services.journal.get(T, OWNER) or entry, Snapshot(T, 3)
    said = await finished(services, entry, polled(snapshot, [], [LOST]), tmp_path)
    assert [failure.split(":")[0] for failure in said] == ["unusableResult", "taskFailedOrNotFound"]
    assert said[1].endswith("Runware no longer knows this task, and an image of it never arrived")
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.18)


async def test_a_garbled_image_recorded_before_is_counted_once_when_a_later_fetch_hears_another_fail_then_forgotten(
    services: Services, tmp_path: Path
) -> None:
    # The later fetch's answer left the garbled image out: its recorded charge and a "never came" for its place would
    # have counted it twice.
    entry = await recorded(services, 3)
    garbled = done(2, imageURL=None)
    twice = polled(polled(Snapshot(T, 3), [done(1), garbled, RUNNING]), [done(1), garbled, RUNNING])
    entry = await journaled(services, entry, twice, tmp_path)
    failed = {"taskType": "imageInference", "taskUUID": T, "status": "error", "code": "inferenceFailed", "message": "x"}
    said = await finished(services, entry, polled(polled(Snapshot(T, 3), [done(1), failed]), [], [LOST]), tmp_path)
    assert [failure.split(":")[0] for failure in said] == ["unusableResult", "inferenceFailed"]
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.12)


async def test_an_unusable_image_that_came_right_leaves_no_failure_to_hide_an_image_that_never_came(
    services: Services, tmp_path: Path
) -> None:
    # A fetch whose answer listed each image (the garbled one whole now, the other running) had kept the recorded
    # unusable failure; once Runware forgot the task, it took the place of the image that never came: $0.06 counted
    # where two images may have been charged (found by review of 6b2990c).
    entry = await first_unusable(services, tmp_path)
    second = await finished(services, entry, polled(Snapshot(T, 2), [done(1), RUNNING]), tmp_path)
    entry = await services.journal.get(T, OWNER) or entry
    third = await finished(services, entry, polled(Snapshot(T, 2), [], [LOST]), tmp_path)
    assert second == []
    assert [failure.split(":")[0] for failure in third] == ["taskFailedOrNotFound"]
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.12)


async def test_an_answer_listing_one_image_whole_and_the_other_failed_under_errors_settles_the_recorded_unusable_one(
    services: Services, tmp_path: Path
) -> None:
    # Runware says failures under "errors", beside the items: together they list each image, so the garbled one
    # recorded before has come right, and is not charged again.
    entry = await first_unusable(services, tmp_path)
    broke = ErrorDetail("inferenceFailed", "It broke.", task_uuid=T)
    said = await finished(services, entry, polled(Snapshot(T, 2), [done(1)], [broke]), tmp_path)
    assert said == ["inferenceFailed: It broke."]
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.06)


async def test_of_two_recorded_unusable_images_one_come_right_and_one_in_doubt_neither_is_counted_twice(
    services: Services, tmp_path: Path
) -> None:
    # The answer listing each image had one in doubt, so the journal's $0.12 was kept beside the image that came: $0.18
    # where at most $0.12 can have been charged (found by review of 75f106a).
    entry = await recorded(services, 4)
    bad = [done(1, imageURL="not a url"), done(2, imageURL="not a url"), RUNNING, RUNNING]
    entry = await journaled(services, entry, polled(polled(Snapshot(T, 4), bad), bad), tmp_path)
    said = await finished(services, entry, polled(Snapshot(T, 4), [done(1), bad[1], RUNNING, RUNNING]), tmp_path)
    entry = await services.journal.get(T, OWNER) or entry
    broke = ErrorDetail("inferenceFailed", "It broke.", task_uuid=T)
    await finished(services, entry, polled(Snapshot(T, 4), [], [broke]), tmp_path)
    assert not any("00000000-0000-4000-8000-000000000001" in failure for failure in said), said
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.12)


async def test_a_recorded_unusable_image_that_comes_in_an_answer_listing_only_it_is_no_longer_failed_or_charged(
    services: Services, tmp_path: Path
) -> None:
    # An answer that lists only the finished images (not each one) still names the image that came: its recorded
    # failure and charge give way to it.
    entry = await recorded(services, 2)
    bad = [done(1, imageURL="not a url"), RUNNING]
    entry = await journaled(services, entry, polled(polled(Snapshot(T, 2), bad), bad), tmp_path)
    said = await finished(services, entry, polled(Snapshot(T, 2), [done(1)]), tmp_path)
    entry = await services.journal.get(T, OWNER) or entry
    assert said == []
    assert (entry.state, entry.cost, entry.unusable_cost) == ("pending", pytest.approx(0.06), 0.0)


async def test_an_unusable_image_failed_and_another_in_doubt_are_both_kept_when_the_task_then_fails(
    services: Services, tmp_path: Path
) -> None:
    # The two were recorded as one charge (the larger of the two): $0.06 where two images were reported finished
    # (found by review of 57f8032).
    entry = await recorded(services, 3)
    bad1, bad2 = done(1, imageURL="not a url"), done(2, imageURL="not a url")
    snapshot = polled(polled(Snapshot(T, 3), [bad1, RUNNING, RUNNING]), [bad1, bad2, RUNNING])
    entry = await journaled(services, entry, snapshot, tmp_path)
    broke = ErrorDetail("inferenceFailed", "It broke.", task_uuid=T)
    where = files.places(tmp_path, [], [])
    await finish(services, entry, polled(Snapshot(T, 3), [], [broke]), where, False, services.clock.monotonic() + 1)
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.12)


async def test_an_unusable_image_in_doubt_of_a_forgotten_task_is_not_counted_again_as_never_come(
    services: Services, tmp_path: Path
) -> None:
    # Recorded in doubt, with no failure said, its place was counted again as an image that never came: $0.24 for
    # three images at $0.06 (found by review of 57f8032).
    entry = await recorded(services, 3)
    entry = await journaled(
        services, entry, polled(Snapshot(T, 3), [done(1), done(2, imageURL="not a url"), RUNNING]), tmp_path
    )
    said = await finished(services, entry, polled(Snapshot(T, 3), [], [LOST]), tmp_path)
    assert [failure.split(":")[0] for failure in said] == ["taskFailedOrNotFound"]
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.18)


async def test_an_image_in_doubt_that_came_right_is_not_charged_again_when_the_task_then_fails(
    services: Services, tmp_path: Path
) -> None:
    # Recorded in doubt, with no failure to name it, its charge outlived its arrival in an answer listing only the
    # finished images: $0.12 and "1 more image(s) finished that cannot be used" (found by review of c48f8c5).
    entry = await recorded(services, 2)
    entry = await journaled(services, entry, polled(Snapshot(T, 2), [done(1, imageURL=None), RUNNING]), tmp_path)
    assert entry.unusable_cost == pytest.approx(0.06)
    entry = await journaled(services, entry, polled(Snapshot(T, 2), [done(1)]), tmp_path)
    broke = ErrorDetail("inferenceFailed", "It broke.", task_uuid=T)
    where = files.places(tmp_path, [], [])
    made = await finish(
        services, entry, polled(Snapshot(T, 2), [], [broke]), where, False, services.clock.monotonic() + 1
    )
    assert isinstance(made, Made)
    assert (made.unusable, made.failures) == (0, ["inferenceFailed: It broke."])
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.06)


async def test_an_image_another_finish_recorded_is_not_counted_as_never_come(
    services: Services, tmp_path: Path
) -> None:
    # This call saw one image, then the task forgotten; another finish had recorded both meanwhile.
    entry = await recorded(services, 2)
    both = [
        ImageRecord(
            image_uuid=f"00000000-0000-4000-8000-00000000000{n}", image_url=f"https://im.runware.ai/{n}.jpg", cost=0.06
        )
        for n in (1, 2)
    ]
    await services.journal.update(T, state="pending", images=both, errors=[], cost=None)
    snapshot = polled(polled(Snapshot(T, 2), [done(1), RUNNING]), [], [LOST])
    assert await finished(services, entry, snapshot, tmp_path) == []
    assert (await services.journal.spend(OWNER)).today == pytest.approx(0.12)


def test_a_failure_said_before_runware_forgot_the_task_is_not_repeated_for_every_image() -> None:
    failed = {"taskType": "imageInference", "taskUUID": T, "status": "error", "code": "nsfw", "message": "flagged"}
    snapshot = polled(polled(Snapshot(T, 3), [failed, RUNNING, RUNNING]), [], [LOST])
    assert snapshot.failures == [ErrorDetail("nsfw", "flagged", task_uuid=T)]


async def test_a_failure_another_finish_recorded_stays_though_this_ones_polls_came_after_it(
    services: Services, tmp_path: Path
) -> None:
    # Two finishes of one task poll each for itself (the call's background follow-up, a get_generation): one whose
    # polls began after Runware said an image failed wrote its "no failure" over the journal's, and said so.
    entry = await recorded(services, 3)
    failed = {"taskType": "imageInference", "taskUUID": T, "status": "error", "code": "nsfw", "message": "flagged"}
    first = await finished(services, entry, polled(Snapshot(T, 3), [done(1), failed, RUNNING]), tmp_path)
    later = await services.journal.get(T, OWNER)
    assert later is not None
    second = await finished(services, later, polled(Snapshot(T, 3), [done(1), RUNNING]), tmp_path)
    kept = await services.journal.get(T, OWNER)
    assert first == second == ["nsfw: flagged"]
    assert kept is not None
    assert kept.errors == ["nsfw: flagged"]


async def test_a_finish_cancelled_while_it_downloads_gives_up_its_claim_at_once(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user stopped the call while its image downloaded: the next finish saves it now, not once the claim runs out.
    entry = await recorded(services, 1)
    arrived = ImageRecord(image_uuid="u-1", image_url="https://im/u-1.png", stem="poster")
    stopped = anyio.CancelScope()

    async def downloading(*args: object, **kwargs: object) -> None:
        stopped.cancel()
        await anyio.sleep_forever()

    monkeypatch.setattr(saving, "fetch", downloading)
    with stopped:
        await saving.save_unsaved(
            services, entry, [arrived], files.places(tmp_path, [], []), services.clock.monotonic() + 30
        )
    claims = await services.journal.claim(T, [], ["u-1"], by="the next finish", until=services.clock.now() + 30)
    assert claims["u-1"].state == "mine"


async def test_an_image_that_comes_at_the_calls_deadline_still_gets_its_few_seconds_to_be_saved(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = tmp_path / "poster.png"

    async def fetched(http: object, wanted: list[object], **kwargs: object) -> list[Kept]:
        saved.write_bytes(png())
        return [Kept(png(), FORMATS["PNG"], saved)]

    monkeypatch.setattr(saving, "fetch", fetched)
    entry = await recorded(services, 1)
    snapshot = polled(Snapshot(T, 1), [done(1)])
    made = await finish(services, entry, snapshot, files.places(tmp_path, [], []), False, services.clock.monotonic())
    assert isinstance(made, Made)
    assert [(image.path, image.problem) for image in made.images] == [(str(saved), None)]
