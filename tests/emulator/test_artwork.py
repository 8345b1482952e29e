"""The emulator's stand-in pictures show what each model was asked to do."""

from __future__ import annotations

import io

from PIL import Image, ImageChops

from ideogram_mcp.emulator import artwork


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_remix_typesets_the_prompts_quoted_text_at_the_top_of_the_new_shape() -> None:
    source = _png((400, 400))
    made = {
        prompt: artwork.remix(
            source, 832, 1248, seed=5, prompt=prompt, strength=60, image_format="PNG", quality=95, footer="f"
        )
        for prompt in ('a poster reading "SPRING SALE"', "a poster reading spring sale")
    }
    with (
        Image.open(io.BytesIO(made['a poster reading "SPRING SALE"'])) as quoted,
        Image.open(io.BytesIO(made["a poster reading spring sale"])) as plain,
    ):
        assert quoted.size == plain.size == (832, 1248)
        changed = ImageChops.difference(quoted.convert("RGB"), plain.convert("RGB")).getbbox()
    assert changed is not None, "the quoted words are drawn"
    left, top, right, bottom = changed
    assert 1248 // 8 <= top < bottom <= 1248 // 4, "only the headline band differs"
    assert 0 < left < right < 832, "inside the picture"
