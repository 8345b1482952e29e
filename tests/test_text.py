"""How text the server did not write is quoted."""

from __future__ import annotations

from ideogram_mcp import text
from ideogram_mcp.text import UPSTREAM_SHOWN, excerpt, sentence


def test_an_excerpt_is_one_line() -> None:
    assert excerpt("Bad\n  value\tfor width.\r\n") == "Bad value for width."


def test_a_long_message_is_cut_to_the_limit_with_an_ellipsis() -> None:
    cut = excerpt("word " * 1000)
    assert len(cut) == UPSTREAM_SHOWN
    assert cut.endswith("...")
    assert excerpt("abcdefghij", limit=8) == "abcde..."
    assert excerpt("abcdefgh", limit=8) == "abcdefgh"


def test_a_sentence_begins_with_a_capital_and_ends_with_a_stop() -> None:
    assert sentence("  invalid width ") == "Invalid width."
    assert sentence("Is it?") == "Is it?"
    assert sentence("done.") == "Done."
    assert sentence("   ") == ""


def test_visible_text_is_what_shows_something() -> None:
    # One rule for prompts and file names: the Hangul fillers and blank braille are letters that show nothing.
    assert [text.has_visible(t) for t in ("a", "한글", "-", "\u3164x")] == [True, True, True, True]
    assert [text.has_visible(t) for t in ("", " \u3000", "\u200b", "\u0301", "\u3164\u115f", "\u2800")] == [False] * 6
    assert [text.joined(w) for w in (["a"], ["a", "b"], ["a", "b", "c"])] == ["a", "a and b", "a, b and c"]


def test_an_emoji_newer_than_this_pythons_unicode_shows_something_and_is_no_control_character() -> None:
    # Python 3.11 knows Unicode 14: "🩷" (15.0) was refused as a prompt that shows nothing, and "🫨" as a fileName
    # with control characters. A noncharacter is still neither.
    from ideogram_mcp.files.names import check_file_name

    assert [text.has_visible(t) for t in ("\U0001fa77", "\U0001fae8\U0001fae8", "\uffff", "\U0010fffe")] == [
        True,
        True,
        False,
        False,
    ]
    assert check_file_name("\U0001fae8") == ("\U0001fae8", None)
    # Reserved as default-ignorable: unassigned, but never to show anything
    assert [text.has_visible(t) for t in ("\u2065", "\U000e0080", "\ufff0", "\ufdd0")] == [False] * 4
    assert check_file_name("report\u2065")[1] is not None
    assert (
        check_file_name("a\uffffb")[1]
        == "must be a plain file name such as 'sale-poster', without folders or control characters"
    )


def test_clipped_text_is_cut_between_characters_a_reader_sees_never_inside_one() -> None:
    # Cut at the 120th code point, a prompt had ended in half a flag, a letter without its accent, or a family emoji
    # at a joiner, with nothing saying it was cut (found by audit).
    cases = {
        "a" * 119 + "\U0001f1ef\U0001f1f5 sign": "a" * 119 + "…",  # a flag: two regional indicators
        "a" * 118 + "\U0001f1ef\U0001f1f5 sign": "a" * 118 + "…",
        "a" * 117 + "\U0001f1ef\U0001f1f5 sign": "a" * 117 + "\U0001f1ef\U0001f1f5…",  # whole, it fits
        "a" * 119 + "e\u0301 sign": "a" * 119 + "…",  # é as e and a combining accent
        "a" * 115 + "\U0001f468\u200d\U0001f469\u200d\U0001f467 sign": "a" * 115 + "…",  # a family, joined
        "a" * 118 + "\U0001f44d\U0001f3fd sign": "a" * 118 + "…",  # a thumb with its skin tone
        "x" * 200: "x" * 119 + "…",
        "short": "short",
    }
    for given, shown in cases.items():
        assert text.clipped(given, 120) == shown, given
    assert (
        text.clipped("ab\U0001f1ef\U0001f1f5\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 6) == "ab\U0001f1ef\U0001f1f5…"
    )


def test_half_a_surrogate_pair_is_carried_as_its_escape_and_nothing_else_changes() -> None:
    # A path of a folder named in Latin-1 holds "\udce9", which no JSON answer can carry: it had ended the server.
    given = {"path": "/srv/caf\udce9/poster.jpg", "seed": 7, "images": ["ok", "caf\udce9"], "café": "é"}
    assert text.carried(given) == {
        "path": "/srv/caf\\udce9/poster.jpg",
        "seed": 7,
        "images": ["ok", "caf\\udce9"],
        "café": "é",
    }
    assert text.unpaired(text.carried(given)) is None


def test_half_a_surrogate_pair_in_a_key_is_found_where_it_is() -> None:
    # An argument's name is text the agent wrote too: a lone half there is no valid Unicode either.
    assert text.unpaired({"params": {"arguments": {"prompt\ud800": "x"}}}) == (
        "params.arguments.prompt\ud800",
        "prompt\ud800",
    )
