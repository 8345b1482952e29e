"""Submissions in batches, on the tests' clock: tasks sent together in one request, each sender hearing its own
task's fate, and nothing sent or charged twice whatever the answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from ideogram_mcp.clock import ManualClock
from ideogram_mcp.emulator import Emulator, Fault
from ideogram_mcp.runware import errors
from ideogram_mcp.runware.client import RunwareClient
from ideogram_mcp.runware.delivery import Delivery

from ..conftest import task
from . import client_of

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runware(emulator: Emulator, clock: ManualClock) -> AsyncIterator[Delivery]:
    async with (
        client_of(emulator) as client,
        anyio.create_task_group() as loops,
    ):
        delivery = Delivery(client, clock=clock)
        loops.start_soon(delivery.run)
        await clock.sleep(0)
        yield delivery
        loops.cancel_scope.cancel()


def _submissions(emulator: Emulator) -> list[list[dict[str, Any]]]:
    return [tasks for tasks in emulator.requests if tasks and tasks[0]["taskType"] == "imageInference"]


async def _submit_all(
    runware: Delivery, clock: ManualClock, sent: list[dict[str, Any]]
) -> dict[str, errors.RunwareError | None]:
    """Submit every task at once, each from its own caller; each one's failure, or None."""
    fate: dict[str, errors.RunwareError | None] = {}

    async def one(item: dict[str, Any]) -> None:
        try:
            await runware.submit(item, until=clock.monotonic() + 30)
            fate[item["taskUUID"]] = None
        except errors.RunwareError as exc:
            fate[item["taskUUID"]] = exc

    async with anyio.create_task_group() as callers:
        for item in sent:
            callers.start_soon(one, item)
    return fate


async def test_tasks_submitted_together_go_in_one_request_and_each_is_acknowledged(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    sent = [task(deliveryMethod="async") for _ in range(12)]
    fate = await _submit_all(runware, clock, sent)

    assert fate == dict.fromkeys((item["taskUUID"] for item in sent), None)
    assert [len(tasks) for tasks in _submissions(emulator)] == [12]
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in sent)


async def test_tasks_that_keep_coming_are_gathered_for_up_to_50_ms_then_sent(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    # One every 4 ms, as hundreds of calls arrive under load: a batch waits for them while they come, and leaves
    # once it has gathered for 50 ms (so the first of a long stream waits at most that).
    sent = [task(deliveryMethod="async") for _ in range(20)]
    fate: dict[str, float] = {}

    async def one(item: dict[str, Any]) -> None:
        await runware.submit(item, until=clock.monotonic() + 30)
        fate[item["taskUUID"]] = clock.monotonic()

    started = clock.monotonic()
    async with anyio.create_task_group() as callers:
        for item in sent:
            callers.start_soon(one, item)
            await clock.sleep(0.004)

    sizes = [len(tasks) for tasks in _submissions(emulator)]
    assert sizes == [13, 7]  # the first gathered for its ten windows of 5 ms (0 to 48 ms); not 20 requests of one
    assert fate[sent[0]["taskUUID"]] - started <= 0.055
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in sent)


async def test_a_task_alone_waits_only_the_first_5_ms(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    started = clock.monotonic()
    await runware.submit(task(deliveryMethod="async"), until=started + 30)
    assert clock.monotonic() - started == pytest.approx(0.005)
    assert [len(tasks) for tasks in _submissions(emulator)] == [1]


async def test_a_task_refused_in_a_batch_fails_alone_and_nothing_else_does(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    good = [task(deliveryMethod="async") for _ in range(3)]
    bad = task(deliveryMethod="async", width=1000, height=1000)  # no size of the model
    fate = await _submit_all(runware, clock, [*good, bad])

    refused = fate.pop(bad["taskUUID"])
    assert isinstance(refused, errors.InvalidRequestError)
    assert refused.may_have_run is False
    assert fate == dict.fromkeys((item["taskUUID"] for item in good), None)
    assert len(_submissions(emulator)) == 1
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in good)


async def test_a_failed_request_is_each_tasks_to_retry_under_its_own_task_uuid(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.append(Fault.error(503, "internalServerError", "Busy.", on="imageInference"))
    sent = [task(deliveryMethod="async") for _ in range(5)]
    fate = await _submit_all(runware, clock, sent)

    assert fate == dict.fromkeys((item["taskUUID"] for item in sent), None)
    submitted = [t["taskUUID"] for tasks in _submissions(emulator) for t in tasks]
    assert sorted(submitted) == sorted(2 * [item["taskUUID"] for item in sent]), "each sent again under its own UUID"
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in sent)


async def test_a_task_the_answer_says_nothing_of_is_sent_again_and_charged_once(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    sent = [task(deliveryMethod="async") for _ in range(3)]
    forgotten = sent[1]["taskUUID"]

    def without_one(body: dict[str, Any]) -> object:
        return {"data": [item for item in body["data"] if item["taskUUID"] != forgotten]}

    emulator.faults.append(Fault.mangle(without_one, on="imageInference"))
    fate = await _submit_all(runware, clock, sent)

    assert fate == dict.fromkeys((item["taskUUID"] for item in sent), None)
    resent = _submissions(emulator)[1:]
    assert [[t["taskUUID"] for t in tasks] for tasks in resent] == [[forgotten]], "answered: already has it"
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in sent)


async def test_a_batch_refused_for_one_named_task_leaves_the_others_unrun_and_refused_as_not_charged(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    # Out of credit: Runware refuses the request with a 402 naming the first task, then the second alone. The second
    # had been "may have run" (said nothing of in a refused request), so its own 402 was told "may have been
    # charged", the call left pending and its price held against the budget.
    sent = [task(deliveryMethod="async") for _ in range(2)]

    def no_credit(about: str) -> Fault:
        body = {"errors": [{"code": "insufficientCredits", "message": "Not enough credit.", "taskUUID": about}]}
        return Fault(402, json.dumps(body), about=about)

    emulator.faults.extend(no_credit(item["taskUUID"]) for item in sent)
    fate = await _submit_all(runware, clock, sent)

    assert [[t["taskUUID"] for t in tasks] for tasks in _submissions(emulator)] == [
        [item["taskUUID"] for item in sent],
        [sent[1]["taskUUID"]],
    ]
    for item in sent:
        refused = fate[item["taskUUID"]]
        assert isinstance(refused, errors.InsufficientCreditsError)
        assert refused.may_have_run is False
    assert emulator.ledger == []


async def test_a_task_acknowledged_in_a_batch_refused_naming_no_task_is_taken_and_only_the_others_refused(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    # Credit ran out part-way: Runware took the first task (its acknowledgement in data) and refused the second in an
    # error naming no task, under a 402 (a body may hold both). The first had been failed with the refusal, never
    # polled, and counted as nothing spent, where it ran and was charged (found by an audit of the emulator).
    sent = [task(deliveryMethod="async") for _ in range(2)]

    def first_taken(body: dict[str, Any]) -> object:
        return {"data": body["data"][:1], "errors": [{"code": "insufficientCredits", "message": "Not enough credit."}]}

    emulator.faults.append(Fault.mangle(first_taken, on="imageInference", status=402))
    fate = await _submit_all(runware, clock, sent)

    assert fate[sent[0]["taskUUID"]] is None
    refused = fate[sent[1]["taskUUID"]]
    assert isinstance(refused, errors.InsufficientCreditsError)
    assert [[t["taskUUID"] for t in tasks] for tasks in _submissions(emulator)] == [[item["taskUUID"] for item in sent]]


async def test_a_refused_key_is_every_senders_and_nothing_is_charged(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    emulator.api_key = "another key"
    sent = [task(deliveryMethod="async") for _ in range(3)]
    fate = await _submit_all(runware, clock, sent)

    assert all(isinstance(exc, errors.AuthenticationError) and not exc.may_have_run for exc in fate.values())
    assert {exc.task_uuid for exc in fate.values() if exc is not None} == {item["taskUUID"] for item in sent}
    assert emulator.ledger == []


async def test_a_sender_gone_before_its_batch_left_is_not_sent(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    stays, leaves = task(deliveryMethod="async"), task(deliveryMethod="async")
    async with anyio.create_task_group() as callers:
        callers.start_soon(runware.submit, stays, clock.monotonic() + 30)
        with anyio.move_on_after(0):  # cancelled at its first wait: before the batch gathered
            await runware.submit(leaves, until=clock.monotonic() + 30)
    assert [[t["taskUUID"] for t in tasks] for tasks in _submissions(emulator)] == [[stays["taskUUID"]]]


@pytest.mark.parametrize("unwritable", ["a \ud800 cat", float("nan")], ids=["half a surrogate pair", "NaN"])
async def test_a_task_no_request_can_carry_fails_alone_unsent_and_the_rest_of_its_batch_goes(
    unwritable: object, runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    # The argument checks refuse such values; were one to pass them, it must not stop the sending for everyone.
    sent = [task(deliveryMethod="async") for _ in range(5)]
    sent[2]["positivePrompt"] = unwritable
    fate = await _submit_all(runware, clock, sent)

    failed = fate.pop(sent[2]["taskUUID"])
    assert isinstance(failed, errors.RunwareUnwritableError)
    assert (failed.may_have_run, failed.retryable) == (False, False)
    assert "not sent and nothing was charged" in str(failed)
    assert fate == dict.fromkeys((item["taskUUID"] for item in sent if item is not sent[2]), None)
    assert [len(tasks) for tasks in _submissions(emulator)] == [4]
    assert sent[2]["taskUUID"] not in {c.task_uuid for c in emulator.ledger}
    later = task(deliveryMethod="async")
    assert await _submit_all(runware, clock, [later]) == {later["taskUUID"]: None}  # the sending goes on


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "invalidParameter", errors.InvalidRequestError),
        (200, "invalidParameter", errors.InvalidRequestError),  # said with a 200, and nothing else: the same
        (403, "accessDenied", errors.PermissionDeniedError),  # a model this key may not run, beside one it may
        (404, "modelNotFound", errors.NotFoundError),
    ],
)
async def test_a_batch_refused_whole_for_one_task_naming_no_task_is_sent_again_task_by_task(
    runware: Delivery, emulator: Emulator, clock: ManualClock, status: int, code: str, kind: type[errors.RunwareError]
) -> None:
    # Only the task that asked for it hears the refusal; the others, which nothing was wrong with, run.
    sent = [task(deliveryMethod="async") for _ in range(4)]
    faulty = sent[1]["taskUUID"]
    emulator.faults.append(Fault.error(status, code, "Not this one.", "width", about=faulty, lasting=True))
    fate = await _submit_all(runware, clock, sent)

    refused = fate.pop(faulty)
    assert type(refused) is kind
    assert isinstance(refused, errors.RunwareAPIError)
    assert refused.parameter == ("width",)
    assert fate == dict.fromkeys((item["taskUUID"] for item in sent if item["taskUUID"] != faulty), None)
    assert sorted(len(tasks) for tasks in _submissions(emulator)) == [1, 1, 1, 1, 4]
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(fate)  # each charged once, the refused one not


async def test_a_batch_answered_with_a_conflict_naming_no_task_is_sent_again_task_by_task(
    runware: Delivery, emulator: Emulator, clock: ManualClock
) -> None:
    # A conflict naming no task says Runware has one of them, and refused the whole request: each had been taken
    # as accepted, so a new task beside a resent one was never sent, then counted as spent when Runware knew it not.
    # Each goes again alone under its own taskUUID (none can run twice): the one Runware has hears the conflict.
    resent, new = task(deliveryMethod="async"), task(deliveryMethod="async")
    await _submit_all(runware, clock, [resent])
    emulator.faults.append(Fault.error(400, "conflictTaskUUID", "Already have it.", on="imageInference"))
    fate = await _submit_all(runware, clock, [resent, new])
    assert fate == {resent["taskUUID"]: None, new["taskUUID"]: None}
    assert sorted(len(tasks) for tasks in _submissions(emulator)) == [1, 1, 1, 2]
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted([resent["taskUUID"], new["taskUUID"]])


async def test_an_unexpected_fault_in_a_request_is_a_request_cut_short_and_the_sending_goes_on(
    runware: Delivery, emulator: Emulator, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = RunwareClient.send
    faults: list[str] = []

    async def once(self: RunwareClient, *args: Any, **kwargs: Any) -> Any:
        if not faults:
            faults.append("raised")
            raise RuntimeError("a bug in the exchange")
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(RunwareClient, "send", once)
    sent = [task(deliveryMethod="async") for _ in range(3)]
    fate = await _submit_all(runware, clock, sent)
    assert faults == ["raised"]
    # As a request cut short: it may have reached Runware, so each task is sent again under its own UUID.
    assert fate == dict.fromkeys((item["taskUUID"] for item in sent), None)
    assert sorted(c.task_uuid for c in emulator.ledger) == sorted(item["taskUUID"] for item in sent)
    later = task(deliveryMethod="async")
    assert await _submit_all(runware, clock, [later]) == {later["taskUUID"]: None}, "the sending goes on"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"errors": [{"code": "insufficientCredits", "message": "Insufficient credits."}]}, "insufficientCredits"),
        ({"error": "Insufficient credits to run this task."}, None),  # a shape Runware's SDKs read too
    ],
)
async def test_an_error_naming_no_task_answered_with_200_is_the_tasks_error_not_its_acknowledgement(
    runware: Delivery, emulator: Emulator, clock: ManualClock, body: dict[str, Any], kind: str | None
) -> None:
    # Taken as an acknowledgement, the task was waited for, then written off as "may have been charged" at its quote,
    # and what Runware said was lost. Alone or in a batch (which is then sent again task by task), it is heard.
    emulator.faults.append(Fault(200, json.dumps(body), on="imageInference", lasting=True))
    for sent in ([task(deliveryMethod="async")], [task(deliveryMethod="async") for _ in range(2)]):
        fate = await _submit_all(runware, clock, sent)
        for exc in fate.values():
            assert isinstance(exc, errors.RunwareAPIError)
            assert "Insufficient credits" in exc.message
            if kind is not None:
                assert isinstance(exc, errors.InsufficientCreditsError)
                assert not exc.may_have_run
    assert emulator.ledger == []
