"""What the emulator does with each task: an inference drawn over its render time, an upload stored, a poll
answered; refusals as Runware words them (``rules`` checks the values)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import anyio.to_thread
import httpx2

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock
from ideogram_mcp.emulator import artwork, rules, scenes
from ideogram_mcp.emulator.state import Answer, Charge, Job, StoredImage, TaskError, decoded_upload
from ideogram_mcp.references import encoded, is_uuid

logger = logs.logger(__name__)

TaskHandler = Callable[[dict[str, Any], str], Awaitable[Answer]]


class TaskWork:
    """The task handlers of ``Emulator``, on the account it holds."""

    clock: Clock
    outbound: httpx2.AsyncBaseTransport | None
    render_seconds: float
    ledger: list[Charge]
    images: dict[str, StoredImage]
    jobs: dict[str, Job]
    deliveries: list[tuple[str, str]]
    failing: set[int]
    handlers: dict[str, TaskHandler]
    spill: Path | None
    _task_uuids: dict[str, float]
    """The taskUUIDs received, with when (monotonic)."""

    def _keep(self, image_uuid: str, data: bytes, mime_type: str) -> None:
        """Store an image: in a file of ``spill`` when it has one (an emulator left serving), else in memory."""
        if self.spill is not None:
            file = self.spill / image_uuid
            try:
                file.write_bytes(data)
            except OSError:  # its folder removed, or full: held in memory
                pass
            else:
                self.images[image_uuid] = StoredImage(b"", mime_type, file)
                return
        self.images[image_uuid] = StoredImage(data, mime_type)

    async def _run(self, task: dict[str, Any], base: str) -> Answer:
        handler = self.handlers.get(str(task.get("taskType")))
        if handler is None:
            known = ", ".join(self.handlers)
            # [guess] Runware's code for a task type it does not know.
            raise TaskError("invalidTaskType", f"Unsupported taskType. The emulator handles: {known}.", "taskType")
        task_uuid = task.get("taskUUID")
        if not is_uuid(str(task_uuid), version=4):
            raise TaskError("invalidTaskUUID", "taskUUID must be a UUID v4.", "taskUUID")
        if task.get("taskType") == "getResponse":
            return await handler(task, base)  # it names an earlier task's UUID
        if task_uuid in self._task_uuids:
            raise TaskError("conflictTaskUUID", "A task with this taskUUID was already received.", "taskUUID")
        self._task_uuids[str(task_uuid)] = self.clock.monotonic()
        try:
            return await handler(task, base)
        except TaskError:
            # [guess] A refused task leaves no trace, so a corrected resend may reuse its taskUUID.
            self._task_uuids.pop(str(task_uuid), None)
            raise

    async def _image_inference(self, task: dict[str, Any], base: str) -> Answer:
        model = str(task.get("model"))
        if model not in rules.MODELS:
            # [guess] Runware's answer to a model it does not serve.
            raise TaskError("modelNotFound", f"Unknown model. The emulator serves: {', '.join(rules.MODELS)}.", "model")
        values = self._validated(model, task)
        await self._check_mask(values, base)
        count = int(values.get("numberResults", 1))
        rng = random.Random(task["taskUUID"])
        given = values.get("seed")
        # The seed asked for draws the first image, and is the one reported; each further image uses a different
        # one ([guess] the next ones, as other Runware models do); none asked for: drawn at random.
        seeds = [rng.randrange(1, 2**31) for _ in range(count)] if given is None else _from(int(given), count)
        job = Job(
            model=model,
            task=task,
            values=values,
            seeds=seeds,
            failing=frozenset(i for i in self.failing if i < count),
            accepted=self.clock.monotonic(),
        )
        self.jobs[task["taskUUID"]] = job
        made = count - len(job.failing)
        # [guess] Runware bills a task when it accepts it, for the images it will deliver.
        self.ledger.append(Charge(task["taskUUID"], made, round(made * rules.price(model, values), 6)))
        if values.get("deliveryMethod", "sync") == "async":
            return Answer(data=[{"taskType": task["taskType"], "taskUUID": task["taskUUID"]}])
        await self.clock.sleep(self.render_seconds)
        return await self._state(job, base)

    async def _get_response(self, task: dict[str, Any], base: str) -> Answer:
        job = self.jobs.get(str(task["taskUUID"]))
        if job is None:
            raise TaskError("taskFailedOrNotFound", "No task with this taskUUID is known.", "taskUUID", status=404)
        return await self._state(job, base)

    async def _state(self, job: Job, base: str) -> Answer:
        """Every image of a job as it stands: finished, failed, or still processing with its progress."""
        async with job.drawing:
            return await self._drawn(job, base)

    async def _drawn(self, job: Job, base: str) -> Answer:
        answer = Answer()
        now = self.clock.monotonic()
        task_uuid, task_type = job.task["taskUUID"], job.task["taskType"]
        for index in range(len(job.seeds)):
            ready = job.ready_at(index, self.render_seconds)
            if now < ready:
                progress = int(100 * (1 - (ready - now) / max(ready - job.accepted, 1e-9)))
                answer.data.append(
                    {"taskType": task_type, "taskUUID": task_uuid, "status": "processing", "progress": progress}
                )
            elif index in job.failing:
                answer.errors.append(
                    {
                        "code": "inferenceError",
                        "message": f"Image {index + 1} failed to render.",
                        "taskType": task_type,
                        "taskUUID": task_uuid,
                        "status": "error",
                    }
                )
            else:
                if index not in job.items:
                    job.items[index] = await self._render(job, index, base)
                answer.data.append(job.items[index])
        return answer

    async def _render(self, job: Job, index: int, base: str) -> dict[str, Any]:
        values, seed, model = job.values, job.seeds[index], job.model
        cutout = job.task["taskType"] == rules.CUTOUT
        # [doc] a cutout is a PNG: its transparency is the point
        fmt = "PNG" if cutout else cast(artwork.ImageFormat, str(values.get("outputFormat", "JPG")).upper())
        quality = int(values.get("outputQuality", 95))
        prompt = str(values.get("positivePrompt", ""))
        # [sdk] 4.0 runs a structured prompt: the one sent, or the one Magic Prompt writes from the text prompt.
        scene = (values.get(rules.SCENES[model]) or scenes.from_text(prompt)) if model in rules.SCENES else None
        source = values.get("inputs.seedImage") or values.get("inputs.referenceImages") or values.get("inputs.image")
        image = self._input(source, base) if source else None
        mask = self._input(values["inputs.maskImage"], base) if "inputs.maskImage" in values else None

        def draw() -> bytes:
            unsized = rules.UNSIZED.get(model, (0, 0))
            width, height = (int(values["width"]), int(values["height"])) if "width" in values else unsized
            footer = f"EMULATED {model} · seed {seed}"
            if isinstance(image, bytes) and cutout:
                return artwork.cutout(image, footer=f"EMULATED {model}")
            if isinstance(image, bytes) and mask is not None:
                return artwork.edit(
                    image, mask, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
                )
            if isinstance(image, bytes) and "inputs.referenceImages" in values:
                strength = int(values.get(rules.REMIX_STRENGTH, 50))
                return artwork.remix(
                    image,
                    width,
                    height,
                    seed=seed,
                    prompt=prompt,
                    strength=strength,
                    image_format=fmt,
                    quality=quality,
                    footer=footer,
                )
            if isinstance(image, bytes) and width:
                return artwork.reframe(image, width, height, image_format=fmt, quality=quality, footer=footer)
            if isinstance(image, bytes):
                return artwork.replace_background(
                    image, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
                )
            footer += f" · {width}x{height}"
            if scene is not None:
                return artwork.scene(width, height, scene, seed=seed, image_format=fmt, quality=quality, footer=footer)
            return artwork.render(
                width, height, seed=seed, prompt=prompt, image_format=fmt, quality=quality, footer=footer
            )

        data = await anyio.to_thread.run_sync(draw)
        image_uuid = str(uuid.uuid4())
        mime = artwork.MIME_TYPES[fmt]
        self._keep(image_uuid, data, mime)
        item: dict[str, Any] = {
            "taskType": job.task["taskType"],
            "taskUUID": job.task["taskUUID"],
            "status": "success",
            "imageUUID": image_uuid,
        }
        if not cutout:  # [sdk] a background removal's result has no seed
            item["seed"] = seed
        item.update(_output(values.get("outputType", "URL"), base, image_uuid, fmt, data, mime))
        if scene is not None:
            item["structuredPrompt"] = scene
        if values.get("safety.checkContent"):
            # The emulator has no classifier: it flags prompts that ask for it, so tests can see the flag.
            item["NSFWContent"] = "nsfw" in prompt.lower()
        if values.get("includeCost"):
            item["cost"] = rules.price(model, values)
        await self._deliver(values, item, data, mime)
        return item

    def _input(self, reference: object, base: str) -> bytes:
        """The bytes of an input image: one it holds (by UUID or its own URL), inline data, or a stand-in."""
        text = str(reference[0] if isinstance(reference, list) and reference else reference)  # pyright: ignore[reportUnknownArgumentType]
        if is_uuid(text):
            held = self.images[text].read()
        elif urlsplit(text).scheme in ("http", "https"):
            own = self._own_image(text, base)
            held = own.read() if own is not None else None  # it never fetches a caller's URL
        else:
            held = decoded_upload(text).data
        return held if held is not None else artwork.placeholder()  # a caller's URL, or a file of it removed since

    async def _check_mask(self, values: Mapping[str, Any], base: str) -> None:
        if "inputs.maskImage" not in values or "inputs.seedImage" not in values:
            return
        image, mask = self._input(values["inputs.seedImage"], base), self._input(values["inputs.maskImage"], base)
        # [guess] Ideogram's rule: the mask has the image's size.
        if artwork.size_of(image) != artwork.size_of(mask):
            raise TaskError("invalidParameter", "maskImage must have the same size as seedImage.", "inputs.maskImage")

    async def _image_upload(self, task: dict[str, Any], base: str) -> Answer:
        """Store an image sent as a data URI or base64, and answer with its UUID and URL. Uploads are free."""
        self._reject_keys(task, {"taskType", "taskUUID", "image"})
        image = task.get("image")
        if not isinstance(image, str) or not image:
            raise TaskError("missingParameter", "Missing required parameter: image.", "image")
        if urlsplit(image).scheme in ("http", "https"):
            # Runware would fetch it; the emulator never requests an address a caller chose.
            stored = self._own_image(image, base) or StoredImage(artwork.placeholder(), "image/png")
        else:
            stored = decoded_upload(image)
        stored = StoredImage(artwork.stored(stored.read() or artwork.placeholder()), stored.mime_type)
        image_uuid = str(uuid.uuid4())
        self._keep(image_uuid, stored.held, stored.mime_type)
        extension = next((e for f, e in artwork.EXTENSIONS.items() if artwork.MIME_TYPES[f] == stored.mime_type), "png")
        item = {
            "taskType": "imageUpload",
            "taskUUID": task["taskUUID"],
            "imageUUID": image_uuid,
            "imageURL": f"{base}image/{image_uuid}.{extension}",
        }
        return Answer(data=[item])

    def _own_image(self, url: str, base: str) -> StoredImage | None:
        if not url.startswith(f"{base}image/"):
            return None
        return self.images.get(url.rsplit("/", 1)[-1].rsplit(".", 1)[0])

    def _reject_keys(self, task: Mapping[str, Any], allowed: set[str]) -> None:
        for key in task:
            if key not in allowed:
                raise TaskError("unsupportedParameter", f"Unsupported parameter for this task: {key}.", key)

    def _validated(self, model: str, task: Mapping[str, Any]) -> dict[str, Any]:
        """The task's values by dotted path, or the TaskError Runware would give (by the emulator's own rules)."""
        values, refusal = rules.check(model, task)
        if refusal is not None:
            raise TaskError(refusal.code, refusal.message, refusal.parameter)
        for path, value in values.items():
            if rules.MODELS[model][path].kind in ("image", "images"):
                self._readable_images(path, [value] if isinstance(value, str) else cast(list[str], value))
        return values

    def _readable_images(self, name: str, items: list[str]) -> None:
        """Refuse an image UUID it does not hold, and inline data that is no whole picture (one had been charged,
        then every poll of its render answered with HTTP 500)."""
        for item in items:
            if is_uuid(item):
                if item not in self.images:  # [guess] Runware's code for it is not documented
                    raise TaskError("invalidParameter", f"Unknown image UUID in {name}: {item}.", name)
            elif urlsplit(item).scheme not in ("http", "https"):
                try:
                    decoded_upload(item)
                except TaskError as exc:
                    raise TaskError(exc.code, exc.message, name) from None

    async def _deliver(self, values: Mapping[str, Any], item: Mapping[str, Any], data: bytes, mime: str) -> None:
        """PUT the image to ``uploadEndpoint`` and POST its result to ``webhookURL`` through ``outbound`` only."""
        targets: list[tuple[str, str, dict[str, Any]]] = []
        if url := values.get("uploadEndpoint"):
            targets.append(("PUT", url, {"content": data, "headers": {"Content-Type": mime}}))
        if url := values.get("webhookURL"):
            # [guess] The webhook envelope is not documented; {"data": [item]} matches the REST answer.
            targets.append(("POST", url, {"json": {"data": [item]}}))
        self.deliveries += [(method, url) for method, url, _ in targets]
        if not targets or self.outbound is None:
            return
        async with httpx2.AsyncClient(transport=self.outbound, timeout=10.0) as http:
            for method, url, options in targets:
                try:
                    await http.request(method, url, **options)
                except httpx2.HTTPError as exc:
                    logger.warning("emulator could not deliver to %s: %s", httpx2.URL(url).host, type(exc).__name__)


def _output(
    output_type: object, base: str, image_uuid: str, fmt: artwork.ImageFormat, data: bytes, mime: str
) -> dict[str, str]:
    if output_type in ("base64Data", "dataURI"):
        text = encoded(data)
        if output_type == "base64Data":
            return {"imageBase64Data": text}
        return {"imageDataURI": f"data:{mime};base64,{text}"}
    return {"imageURL": f"{base}image/{image_uuid}.{artwork.EXTENSIONS[fmt]}"}


def _from(seed: int, count: int) -> list[int]:
    """``count`` seeds from ``seed`` on, each within Runware's range (1 to 2147483647), the first ``seed`` itself."""
    return [(seed - 1 + i) % (2**31 - 1) + 1 for i in range(count)]
