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


def test_ideogram_4s_stand_in_draws_each_element_in_its_box_and_a_text_elements_text_in_its_own() -> None:
    def drawn(words: str) -> Image.Image:
        scene = {
            "high_level_description": "a poster",
            "style_description": {"color_palette": ["#101010", "#101010"]},
            "compositional_deconstruction": {
                "elements": [
                    {"type": "text", "text": words, "bbox": [100, 100, 300, 900], "color_palette": ["#F0C000"]},
                    {"type": "obj", "desc": "a lamp", "bbox": [600, 200, 900, 500], "color_palette": ["#2040F0"]},
                ]
            },
        }
        made = artwork.scene(1000, 2000, scene, seed=1, image_format="PNG", quality=95, footer="")
        return Image.open(io.BytesIO(made)).convert("RGB")

    night, day = drawn("NIGHT SIGNALS"), drawn("DAY SIGNALS")
    assert night.size == (1000, 2000)
    changed = ImageChops.difference(night, day).getbbox()
    assert changed is not None
    left, top, right, bottom = changed
    assert left >= 100, "only the text's box differs"
    assert right <= 900
    assert top >= 200
    assert bottom <= 600
    assert night.getpixel((50, 1000)) == (16, 16, 16), "outside every box: the background in its palette"
    inked = [night.getpixel((x, y)) for x in range(100, 900, 4) for y in range(200, 600, 4)]
    assert (240, 192, 0) in inked, "the text in its colour, inside its box"
    tint = night.getpixel((350, 1500))  # inside the lamp's box: tinted with its colour
    assert isinstance(tint, tuple)
    red, green, blue = tint[:3]
    assert blue > max(red, green)


def test_a_picture_a_few_pixels_wide_is_drawn_as_any_other() -> None:
    for size in [(1, 1), (2, 5), (3, 3)]:
        # Drawn with the edit's fill: a tiny image to edit left every poll answered 500 before.
        drawn = artwork.edit(_png(size), _png(size), seed=1, prompt="x", image_format="PNG", quality=90, footer="")
        assert Image.open(io.BytesIO(drawn)).size == size
