"""Reading Runware's answers defensively: only the task asked about, never more images than asked for, a garbled
item failed only when it stays garbled (and counted as charged), "no such task" believed only once it can be."""

from __future__ import annotations

from typing import Any

import pytest

from ideogram_mcp.runware import answers, errors
from ideogram_mcp.runware.answers import Snapshot, check_acknowledged
from ideogram_mcp.runware.errors import ErrorDetail

T = "11111111-1111-4111-8111-111111111111"
RUNNING = {"taskType": "imageInference", "taskUUID": T, "status": "processing"}


def done(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "taskType": "imageInference",
        "taskUUID": T,
        "status": "success",
        "imageUUID": f"img-{n}",
        "imageURL": f"https://im.runware.ai/image/{n}.jpg",
        "seed": n,
        "cost": 0.06,
    } | extra


def absorb(snapshot: Snapshot, items: list[Any], errors_: list[ErrorDetail] | None = None) -> Snapshot:
    answers.absorb(snapshot, items, errors_ or [])
    return snapshot


def test_only_items_of_the_task_asked_count_and_never_more_than_requested() -> None:
    snapshot = absorb(Snapshot(T, 2), [done(1), done(2), done(3), done(4, taskUUID="another"), done(1)])
    assert [i.image_uuid for i in snapshot.images] == ["img-1", "img-2"]
    assert snapshot.done


def test_running_items_keep_a_task_open_and_report_progress() -> None:
    running = {"taskType": "imageInference", "taskUUID": T, "status": "processing", "progress": 40}
    pending = {"taskType": "imageInference", "taskUUID": T, "status": "pending"}
    snapshot = absorb(Snapshot(T, 3), [done(1), running, pending])
    assert (len(snapshot.images), snapshot.progress, snapshot.done) == (1, 40, False)


def test_a_garbled_item_fails_its_image_only_when_it_stays_garbled_and_never_discards_the_others() -> None:
    garbled = done(2, imageUUID=7)
    snapshot = absorb(Snapshot(T, 3), [done(1), garbled, done(3)])
    assert ([i.image_uuid for i in snapshot.images], snapshot.failures, snapshot.done) == (
        ["img-1", "img-3"],
        [],
        False,
    )
    absorb(snapshot, [done(1), garbled, done(3)])
    assert [f.code for f in snapshot.failures] == ["unusableResult"]
    assert snapshot.done


def test_an_item_garbled_once_is_in_doubt_whatever_another_item_was_before() -> None:
    # Repeats were counted by answer, not by item: image 2, garbled once right after image 1 had been, was failed at
    # once, and its task no longer polled in case it came right (found by review).
    snapshot = absorb(Snapshot(T, 2), [done(1, imageURL="not a url"), RUNNING])
    absorb(snapshot, [done(1), done(2, imageURL="x")])
    assert (snapshot.failures, snapshot.doubtful, snapshot.done) == ([], [0.06], False)
    absorb(snapshot, [done(1), done(2, imageURL="x")])
    assert ([f.code for f in snapshot.failures], snapshot.unusable_charges, snapshot.done) == (
        ["unusableResult"],
        [0.06],
        True,
    )


@pytest.mark.parametrize("url", [None, "", "ftp://x/y.jpg", "not a url", 42])
def test_an_image_without_a_usable_url_is_never_a_success(url: object) -> None:
    item = done(1) | {"imageURL": url}
    snapshot = absorb(absorb(Snapshot(T, 1), [item]), [item])
    assert snapshot.images == []
    assert "gave no usable URL" in snapshot.failures[0].message


def test_odd_field_types_are_dropped_not_trusted() -> None:
    (image,) = absorb(Snapshot(T, 1), [done(1, seed="12", cost=True, NSFWContent="no")]).images
    assert (image.seed, image.cost, image.nsfw_content) == (None, None, None)


def test_numbers_no_float_can_hold_are_dropped_and_the_task_still_finishes() -> None:
    running = {"taskType": "imageInference", "taskUUID": T, "status": "processing", "progress": 10**400}
    snapshot = absorb(Snapshot(T, 2), [done(1, cost=10**400), running])
    assert (snapshot.images[0].cost, snapshot.progress, snapshot.done) == (None, None, False)
    absorb(snapshot, [done(1), done(2, cost=float("inf"))])
    assert ([i.cost for i in snapshot.images], snapshot.done) == ([None, None], True)


def test_failed_images_count_as_finished_and_a_task_level_error_fails_the_rest() -> None:
    per_image = ErrorDetail("inferenceError", "image 2 failed", task_uuid=T)
    snapshot = absorb(Snapshot(T, 2), [done(1)], [per_image])
    assert (len(snapshot.images), len(snapshot.failures), snapshot.done) == (1, 1, True)
    whole = absorb(Snapshot(T, 3), [], [ErrorDetail("inferenceError", "the task failed", task_uuid=T)])
    assert (len(whole.failures), whole.done) == (3, True)
    unknown = absorb(Snapshot(T, 1), [], [ErrorDetail("taskFailedOrNotFound", "no such task", task_uuid=T)])
    assert isinstance(unknown.lost, errors.NotFoundError)
    assert unknown.done


def test_the_async_acknowledgement_must_be_about_the_task_sent() -> None:
    check_acknowledged([], T)
    check_acknowledged([{"taskUUID": T}], T)
    with pytest.raises(errors.RunwareResponseError, match="another task"):
        check_acknowledged([{"taskUUID": "other"}], T)


def test_an_item_reported_as_failed_fails_its_image_in_runwares_words_or_ours() -> None:
    failed = {"taskType": "imageInference", "taskUUID": T, "status": "error", "code": "nsfw", "message": "flagged"}
    bare = {"taskType": "imageInference", "taskUUID": T, "status": "error"}
    snapshot = absorb(Snapshot(T, 3), [done(1), failed, bare])
    assert [i.image_uuid for i in snapshot.images] == ["img-1"]
    assert snapshot.failures == [
        ErrorDetail("nsfw", "flagged", task_uuid=T),
        ErrorDetail("imageFailed", "Runware reported this image as failed", task_uuid=T),
    ]
    assert snapshot.done


def test_an_error_about_another_task_is_not_this_tasks_failure() -> None:
    other = ErrorDetail("inferenceError", "the other task failed", task_uuid="22222222-2222-4222-8222-222222222222")
    snapshot = absorb(Snapshot(T, 2), [done(1)], [other])
    assert (len(snapshot.images), snapshot.failures, snapshot.done) == (1, [], False)


def test_a_task_runware_forgets_after_some_images_arrived_keeps_them_and_fails_the_rest() -> None:
    snapshot = absorb(Snapshot(T, 3), [done(1)])
    absorb(snapshot, [], [ErrorDetail("taskFailedOrNotFound", "no such task", task_uuid=T)])
    assert isinstance(snapshot.lost, errors.NotFoundError)
    assert [i.image_uuid for i in snapshot.images] == ["img-1"]
    note = "Runware no longer knows this task, and an image of it never arrived"
    assert snapshot.failures == [ErrorDetail("taskFailedOrNotFound", note, task_uuid=T)] * 2
    assert snapshot.done


def test_an_image_said_to_have_failed_stays_failed_when_runware_then_forgets_the_task() -> None:
    # The answer about a forgotten task holds nothing: the failure the poll before it said was lost, and the image
    # counted among those that never came (and so as maybe charged).
    failed = {"taskType": "imageInference", "taskUUID": T, "status": "error", "code": "nsfw", "message": "flagged"}
    running = {"taskType": "imageInference", "taskUUID": T, "status": "processing"}
    snapshot = absorb(Snapshot(T, 3), [done(1), failed, running])
    absorb(snapshot, [], [ErrorDetail("taskFailedOrNotFound", "no such task", task_uuid=T)])
    note = "Runware no longer knows this task, and an image of it never arrived"
    assert snapshot.failures == [
        ErrorDetail("nsfw", "flagged", task_uuid=T),
        ErrorDetail("taskFailedOrNotFound", note, task_uuid=T),
    ]
    assert snapshot.done


def test_an_item_garbled_for_two_polls_then_right_is_an_image_not_a_charge_as_well() -> None:
    garbled = done(1, imageUUID=None)
    snapshot = absorb(absorb(Snapshot(T, 2), [garbled]), [garbled])
    assert (snapshot.unusable_charges, len(snapshot.failures)) == ([0.06], 1)
    absorb(snapshot, [done(1), {"taskType": "imageInference", "taskUUID": T, "status": "processing"}])
    assert ([i.image_uuid for i in snapshot.images], snapshot.unusable_charges, snapshot.failures) == (
        ["img-1"],
        [],
        [],
    )


def test_no_such_task_is_believed_only_once_the_task_has_been_known_long_enough() -> None:
    unknown = [ErrorDetail("taskFailedOrNotFound", "no such task", task_uuid=T)]
    fresh = Snapshot(T, 1)
    answers.absorb(fresh, [], unknown, known_for=answers.LOST_AFTER - 1)
    assert (fresh.lost, fresh.failures, fresh.done) == (None, [], False)
    old = Snapshot(T, 1)
    answers.absorb(old, [], unknown, known_for=answers.LOST_AFTER)
    assert isinstance(old.lost, errors.NotFoundError)
    assert old.lost.may_have_run, "it was sent: it may have run, and been charged, before it was forgotten"


def test_the_structured_prompt_an_image_was_made_from_is_kept_and_anything_else_in_its_place_is_not() -> None:
    scene = {"high_level_description": "a poster", "compositional_deconstruction": {"elements": []}}
    snapshot = absorb(Snapshot(T, 3), [done(1, structuredPrompt=scene), done(2, structuredPrompt="a poster"), done(3)])
    assert [i.structured_prompt for i in snapshot.images] == [scene, None, None]
    assert snapshot.images[0].model_dump(mode="json")["structuredPrompt"] == scene


def test_a_polls_own_error_said_of_a_task_is_told_apart_from_the_tasks_outcome() -> None:
    def said(*codes: str) -> list[ErrorDetail]:
        return [ErrorDetail(code, f"{code} said", task_uuid=T) for code in codes]

    assert answers.poll_trouble(said("inferenceError", "nsfwContentDetected", "someNewCode")) is None
    passing = answers.poll_trouble(said("inferenceError", "rateLimitExceeded", "internalServerError"))
    assert isinstance(passing, errors.RateLimitError)
    assert list(passing.details) == said("rateLimitExceeded", "internalServerError")  # the task's own failure left out
    assert isinstance(answers.poll_trouble(said("requestTimeout")), errors.UpstreamTimeoutError)
    refused = answers.poll_trouble(said("rateLimitExceeded", "invalidApiKey"))
    assert isinstance(refused, errors.AuthenticationError)  # a refusal outranks a passing fault
    assert answers.poll_trouble(said("insufficientCredits")) is None  # said of one task: refused when it was to run
