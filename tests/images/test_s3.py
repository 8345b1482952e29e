"""The bucket image store against a real S3-compatible server (SeaweedFS): create-only saves, names that never
collide, a paid image saved once by two machines, listing and reading only our own, links a person can open."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
import pytest

from ideogram_mcp.images import s3
from ideogram_mcp.images.formats import image_format
from ideogram_mcp.images.recipes import SIDECAR_MOST, Recipe
from ideogram_mcp.images.s3 import Bucket, BucketStore
from tests.objectstore import S3Server

if TYPE_CHECKING:
    from obstore.store import S3Store

from ..conftest import png

ROOT = Path("/srv/ideogram-images")
"""The images root the machines share: with a bucket it names no folder on disk."""
PNG = image_format("PNG")


def recipe(image_uuid: str = "11111111-1111-4111-8111-111111111111", prompt: str = "a red square") -> Recipe:
    return Recipe(
        image_uuid=image_uuid,
        task_uuid="22222222-2222-4222-8222-222222222222",
        runware="http://runware.test/v1",
        created="2026-12-05T10:00:00+00:00",
        task={"positivePrompt": prompt},
        seed=7,
        width=8,
        height=8,
    )


@pytest.fixture
def machines(s3: S3Server) -> tuple[BucketStore, BucketStore, str]:
    """Two stores of one bucket's prefix, as two machines have them; and the prefix."""
    place = s3.place()
    return (
        BucketStore(s3.store(place), ROOT, bucket=s3.url(place), link_seconds=600),
        BucketStore(s3.store(place), ROOT, bucket=s3.url(place), link_seconds=600),
        place,
    )


def test_an_image_and_its_recipe_are_objects_under_the_prefix_named_like_the_files(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, _, place = machines
    data = png()
    path = a.put(ROOT / "alice", "poster", data, PNG, recipe())
    assert path == ROOT / "alice" / "poster.png"
    raw = s3.store()
    assert bytes(obstore.get(raw, f"{place}/alice/poster.png").bytes()) == data
    written = json.loads(bytes(obstore.get(raw, f"{place}/alice/poster.json").bytes()))
    assert written["file"] == "poster.png"
    assert written["sha256"] == hashlib.sha256(data).hexdigest()
    assert written["bytes"] == len(data)
    assert written["imageUUID"] == "11111111-1111-4111-8111-111111111111"
    assert not ROOT.exists(), "nothing is written on this machine's disk"


def test_a_taken_name_gets_the_next_one_and_nothing_is_overwritten(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, b, place = machines
    first = a.put(ROOT / "alice", "poster", png(colour=(1, 2, 3)), PNG, recipe("aaaaaaaa-1111-4111-8111-111111111111"))
    second = b.put(ROOT / "alice", "poster", png(colour=(4, 5, 6)), PNG, recipe("bbbbbbbb-1111-4111-8111-111111111111"))
    assert (first.name, second.name) == ("poster.png", "poster-2.png")
    raw = s3.store(place)
    assert bytes(obstore.get(raw, "alice/poster.png").bytes()) == png(colour=(1, 2, 3))
    with pytest.raises(obstore.exceptions.AlreadyExistsError):  # the bucket itself refuses an overwrite
        obstore.put(raw, "alice/poster.png", b"x", mode="create")


def test_two_machines_saving_one_paid_image_at_once_save_it_once(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, b, place = machines
    start, saved = threading.Barrier(2), list[Path]()

    def save(store: BucketStore) -> None:
        start.wait()
        saved.append(store.put(ROOT / "alice", "poster", png(), PNG, recipe()))

    threads = [threading.Thread(target=save, args=(store,)) for store in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert saved == [ROOT / "alice" / "poster.png"] * 2
    keys = sorted(meta["path"] for meta in obstore.list(s3.store(place)).collect())
    assert keys == ["alice/poster.json", "alice/poster.png"]


def test_another_machine_lists_and_reads_what_one_saved_and_only_from_the_folders_asked(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, b, _ = machines
    older = recipe("aaaaaaaa-1111-4111-8111-111111111111", "older").with_(created="2026-12-05T09:00:00+00:00")
    a.put(ROOT / "alice", "older", png(colour=(1, 1, 1)), PNG, older)
    a.put(ROOT / "alice", "newer", png(colour=(2, 2, 2)), PNG, recipe(prompt="newer"))
    a.put(ROOT / "bob", "bobs", png(), PNG, recipe("cccccccc-1111-4111-8111-111111111111"))
    raw = s3.store(machines[2])
    copy = bytes(obstore.get(raw, "alice/older.json").bytes())
    obstore.put(raw, "alice/older copy.json", copy)  # a recipe copied: listed twice, though read takes its own only
    listed = b.saved([ROOT / "alice"])
    assert [image.path.name for image in listed] == ["newer.png", "older.png"]
    assert listed[0].description == "8x8, seed 7: newer"
    assert listed[0].size == len(png(colour=(2, 2, 2)))
    data, found = b.read(ROOT / "alice" / "older.png", [ROOT / "alice"], "ideogram://images/older.png")
    assert (data, found.name) == (png(colour=(1, 1, 1)), "PNG")
    with pytest.raises(LookupError, match="No image saved by this server"):
        b.read(ROOT / "bob" / "bobs.png", [ROOT / "alice"], "ideogram://images/../bob/bobs.png")
    with pytest.raises(LookupError, match="No image saved by this server"):
        b.read(ROOT / "alice" / "missing.png", [ROOT / "alice"], "ideogram://images/missing.png")


def test_an_image_is_served_while_its_recipe_names_it_and_not_once_the_recipe_is_gone(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, b, place = machines
    path = a.put(ROOT / "alice", "poster", png(), PNG, recipe())
    assert a.serves(path)
    obstore.delete(s3.store(place), "alice/poster.json")
    assert not b.serves(path), "the other machine, which never read it, finds no recipe"
    assert unanswered().serves(path), "a bucket that does not answer cannot tell: taken as served"


def test_objects_without_our_recipe_are_neither_listed_nor_read(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    a, _, place = machines
    raw = s3.store(place)
    obstore.put(raw, "alice/stray.png", png())
    obstore.put(raw, "alice/stray.json", b'{"generator": "someone else", "file": "stray.png"}')
    obstore.put(raw, "alice/broken.json", b"{not json")
    # Named like a recipe but too large to be one: a local folder reads no more than a recipe can be, a bucket whole.
    obstore.put(raw, "alice/huge.png", png())
    padded = recipe().to_json() | {"file": "huge.png", "padding": "x" * SIDECAR_MOST}
    obstore.put(raw, "alice/huge.json", json.dumps(padded).encode())
    assert a.saved([ROOT / "alice"]) == []
    for name in ("stray.png", "huge.png"):
        with pytest.raises(LookupError):
            a.read(ROOT / "alice" / name, [ROOT / "alice"], f"ideogram://images/{name}")


def test_a_link_opens_the_image_for_anyone_holding_it_and_says_nothing_of_the_key(
    machines: tuple[BucketStore, BucketStore, str],
) -> None:
    a, _, _ = machines
    path = a.put(ROOT / "alice", "poster", png(), PNG, recipe())
    link = a.link(path)
    assert link is not None
    assert "X-Amz-Expires=600" in link
    assert "X-Amz-Credential=ideogram-test%2F" in link, "signed with the store's key, named by its id"
    with urllib.request.urlopen(link, timeout=30) as answer:  # a plain GET, as a browser makes it
        assert answer.read() == png()
    assert a.link(Path("/elsewhere/poster.png")) is None


def test_an_unchanged_image_is_known_by_its_runware_uuid_and_loaded_for_previews(
    machines: tuple[BucketStore, BucketStore, str],
) -> None:
    a, b, _ = machines
    path = a.put(ROOT / "alice", "poster", png(), PNG, recipe())
    assert b.known_uuid(path, png(), "http://runware.test/v1") == "11111111-1111-4111-8111-111111111111"
    assert b.known_uuid(path, png(colour=(9, 9, 9)), "http://runware.test/v1") is None, "changed since"
    assert b.known_uuid(path, png(), "http://another.test/v1") is None, "another Runware holds no such UUID"
    assert b.load(path) == png()
    assert b.load(ROOT / "alice" / "gone.png") is None


def unanswered() -> BucketStore:
    """A store of a bucket nobody answers for (``s3://b``, at no server)."""
    return BucketStore(S3Server(Path("/nonexistent"), Path("weed")).store(), ROOT, bucket="s3://b", link_seconds=600)


def test_a_folder_is_writable_when_the_bucket_answers_and_lies_under_the_root(
    machines: tuple[BucketStore, BucketStore, str],
) -> None:
    a, _, _ = machines
    assert a.unwritable(ROOT / "alice", "poster.png") is None
    assert a.unwritable(Path("/tmp/elsewhere")) == (
        f"with images kept in the bucket {a._bucket}, images are saved only under {ROOT}"  # pyright: ignore[reportPrivateUsage]
    )
    assert a.unwritable(ROOT / "alice", "x" * 1000) == (
        "names that long do not fit an object key of the bucket; give a shorter fileName"
    )
    nowhere = unanswered()
    why = nowhere.unwritable(ROOT / "alice")
    assert why is not None
    assert why.startswith("the bucket s3://b cannot be reached (")


def test_a_discarded_copy_goes_with_its_recipe(s3: S3Server, machines: tuple[BucketStore, BucketStore, str]) -> None:
    a, _, place = machines
    path = a.put(ROOT / "alice", "poster", png(), PNG, recipe())
    a.discard(path)
    assert list(obstore.list(s3.store(place)).collect()) == []
    assert a.saved([ROOT / "alice"]) == []


def test_the_bucket_url_names_the_bucket_and_its_prefix() -> None:
    assert Bucket.of_url("s3://images/team/a") == Bucket("images", "team/a")
    assert str(Bucket.of_url("s3://images")) == "s3://images"


def test_a_bucket_that_does_not_answer_fails_a_save_in_plain_words_for_the_caller_to_keep_the_url() -> None:
    nowhere = unanswered()
    with pytest.raises(OSError, match=r"^\[Errno 5\] the bucket s3://b did not take it \(") as caught:
        nowhere.put(ROOT / "alice", "poster", png(), PNG, recipe())
    assert "?" not in str(caught.value), "no signed query string in what is said"
    with pytest.raises(OSError, match="not under /srv/ideogram-images"):
        nowhere.put(Path("/elsewhere"), "poster", png(), PNG, recipe())


def test_a_bucket_is_proven_to_take_images_and_refuse_an_overwrite_before_a_server_relies_on_it(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, place = machines
    assert a.proven() is None
    assert list(obstore.list(s3.store(place)).collect()) == [], "the probe is removed"
    written = obstore.put

    def ignoring_the_condition(store: S3Store, key: str, data: bytes, **_: object) -> object:
        return written(store, key, data)  # as a server that ignores If-None-Match: * answers

    monkeypatch.setattr("ideogram_mcp.images.s3._put", ignoring_the_condition)
    why = a.proven()
    assert why is not None
    assert why.endswith("two machines could overwrite each other's images; use a store that honours it")


def test_an_images_root_named_through_a_link_keeps_the_folders_worked_out_from_it(s3: S3Server, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    place = s3.place()
    store = BucketStore(s3.store(place), tmp_path / "link" / "images", bucket=s3.url(place), link_seconds=600)
    resolved = (tmp_path / "link" / "images" / "alice").resolve()  # as the folders of a connection come
    assert store.unwritable(resolved) is None
    assert store.put(resolved, "poster", png(), PNG, recipe()) == resolved / "poster.png"
    assert store.key(tmp_path / "link" / "images" / "alice" / "poster.png") == "alice/poster.png"


def test_a_bucket_failure_is_said_by_its_cause_and_names_no_address_or_key() -> None:
    # obstore's words: the request's URL names the store's endpoint and the object's key (a token's folder).
    failure = OSError(
        "Generic S3 error: Error performing PUT http://10.0.0.7:8333/images/d6467b2bc2e786c5/kite.json?X-Amz-Signature="
        "abc in 387ms, after 3 retries, max_retries: 3 - HTTP error: error sending request for url "
        "(http://10.0.0.7:8333/images/d6467b2bc2e786c5/kite.json)"
    )
    refused = OSError(  # a HEAD refused, as obstore says it: its debug text names the key and the endpoint
        "Generic S3 error: Error performing HEAD http://127.0.0.1:40109/images/pre/d6467b2bc2e786c5/kite.json in 2ms "
        "- Server returned non-2xx status code: 403 Forbidden: \n\nDebug source:\n PermissionDenied { path: "
        '"pre/d6467b2bc2e786c5/kite.json", uri: Some(HTTP://127.0.0.1:40109) }'
    )
    answered = OSError(  # a PUT refused with S3's own answer, which names the object too
        "Generic S3 error: Error performing PUT http://x/images/k in 2ms - Server returned non-2xx status code: 403 "
        "Forbidden: <?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied.</Message>"
        "<Resource>/images/pre/d6467b2bc2e786c5/kite.json</Resource></Error>"
    )
    said = [s3._said(e) for e in (failure, refused, answered, OSError("Access Denied."))]  # pyright: ignore[reportPrivateUsage]
    assert said == [
        "HTTP error: error sending request for url (an address in the bucket)",
        "Server returned non-2xx status code: 403 Forbidden",
        "AccessDenied: Access Denied",
        "Access Denied",
    ]
    assert not [s for s in said if "d6467b2bc2e786c5" in s or "127.0.0.1" in s or "10.0.0.7" in s]


def test_an_image_name_held_by_an_object_without_a_recipe_is_neither_overwritten_nor_listed_as_ours(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    # Another tool put alice/poster.png in the bucket, with no recipe beside it: the recipe's name is free, the
    # image's is not. Ours goes under the next name, theirs stays as it was, and our recipe is not left beside theirs
    # (it had been: their image was listed and served as one of ours; found by a mutation audit).
    a, b, place = machines
    raw = s3.store(place)
    obstore.put(raw, "alice/poster.png", b"someone else's")
    path = a.put(ROOT / "alice", "poster", png(colour=(9, 9, 9)), PNG, recipe())
    assert path.name == "poster-2.png"
    assert bytes(obstore.get(raw, "alice/poster.png").bytes()) == b"someone else's"
    assert bytes(obstore.get(raw, "alice/poster-2.png").bytes()) == png(colour=(9, 9, 9))
    assert [saved.path.name for saved in b.saved([ROOT / "alice"])] == ["poster-2.png"]
    assert not [m for m in obstore.list(raw).collect() if m["path"] == "alice/poster.json"]


def test_a_name_whose_recipe_describes_other_bytes_of_the_same_image_is_not_taken(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str]
) -> None:
    # A save of this Runware image with other bytes claimed poster.json and was cut short before its image: the name
    # is not ours to fill with these bytes (its recipe's sha256 would not describe them).
    a, _, place = machines
    raw = s3.store(place)
    other = png(colour=(1, 1, 1))
    claim = recipe().with_(file="poster.png", format="PNG", bytes=len(other), sha256=hashlib.sha256(other).hexdigest())
    obstore.put(raw, "alice/poster.json", claim.text())
    path = a.put(ROOT / "alice", "poster", png(colour=(9, 9, 9)), PNG, recipe())
    assert path.name == "poster-2.png"
    assert not [m for m in obstore.list(raw).collect() if m["path"] == "alice/poster.png"]


def test_a_name_whose_image_cannot_be_read_back_keeps_the_recipe_another_machines_save_of_it_relies_on(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A claims poster.json, B saves the same image under it, A's read of poster.png fails once: that is no proof of a
    # stranger's object, and the recipe B's image needs had been withdrawn (found by review).
    a, b, _ = machines
    real_put, real_get = obstore.put, obstore.get
    done: set[str] = set()

    def put(store: object, key: str, value: object, **options: object) -> object:
        if store is a._store and key.endswith("alice/poster.png") and "b" not in done:  # pyright: ignore[reportPrivateUsage]
            done.add("b")
            assert b.put(ROOT / "alice", "poster", png(), PNG, recipe()) == ROOT / "alice" / "poster.png"
        return real_put(store, key, value, **options)  # pyright: ignore[reportArgumentType, reportCallIssue]

    def get(store: object, key: str, *args: object, **options: object) -> object:
        if store is a._store and key.endswith("alice/poster.png") and "get" not in done:  # pyright: ignore[reportPrivateUsage]
            done.add("get")
            raise OSError("connection reset")
        return real_get(store, key, *args, **options)  # pyright: ignore[reportArgumentType, reportCallIssue]

    monkeypatch.setattr("ideogram_mcp.images.s3._put", put)
    monkeypatch.setattr(obstore, "get", get)
    a.put(ROOT / "alice", "poster", png(), PNG, recipe())
    monkeypatch.undo()
    assert "poster.png" in [saved.path.name for saved in b.saved([ROOT / "alice"])]


def test_a_save_reads_a_names_recipe_afresh_as_another_machine_may_have_withdrawn_it_and_another_image_taken_it(
    s3: S3Server, machines: tuple[BucketStore, BucketStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # B kept A's first recipe of poster.json (image U); A withdrew it (another tool's poster.png), that object went,
    # and A claimed the name for image V: B, saving U again, had trusted its copy and written U beside V's recipe,
    # which A then withdrew, leaving U at the name B reported with no recipe (found by review).
    a, b, place = machines
    raw = s3.store(place)
    obstore.put(raw, "alice/poster.png", b"someone else's")
    real_put = obstore.put
    first, second = recipe(), recipe("33333333-3333-4333-8333-333333333333", "a blue square")
    reported: list[Path] = []
    steps: set[str] = set()

    def put(store: object, key: str, value: object, **options: object) -> object:
        if store is a._store and key.endswith("alice/poster.png"):  # pyright: ignore[reportPrivateUsage]
            if "first" not in steps:
                steps.add("first")
                b.put(ROOT / "alice", "poster", png(), PNG, first)
            elif "gone" in steps and "again" not in steps:
                steps.add("again")
                reported.append(b.put(ROOT / "alice", "poster", png(), PNG, first))
        return real_put(store, key, value, **options)  # pyright: ignore[reportArgumentType, reportCallIssue]

    monkeypatch.setattr("ideogram_mcp.images.s3._put", put)
    a.put(ROOT / "alice", "poster", png(), PNG, first)
    obstore.delete(raw, "alice/poster.png")  # the other tool removes its file
    steps.add("gone")
    a.put(ROOT / "alice", "poster", png(colour=(0, 0, 255)), PNG, second)
    monkeypatch.undo()
    listed = [saved.path.name for saved in a.saved([ROOT / "alice"])]
    assert len(reported) == 1
    assert reported[0].name in listed, f"B's save reported at {reported[0].name}, which no recipe describes: {listed}"


def test_a_bucket_client_that_panics_fails_as_a_bucket_that_does_not_answer_never_past_the_caller() -> None:
    # obstore's Rust code panics on an endpoint with no scheme (the start refuses that one; others may come): pyo3
    # raises a PanicException, a BaseException no caller took, which had ended a stdio server at its first call.
    from obstore.store import S3Store

    client = S3Store("b", endpoint="127.0.0.1:9", access_key_id="k", secret_access_key="s", region="us-east-1")
    panicking = BucketStore(client, ROOT, bucket="s3://b", link_seconds=600)
    with pytest.raises(OSError, match=r"the bucket s3://b did not take it \(.*the bucket's client failed"):
        panicking.put(ROOT / "alice", "poster", png(), PNG, recipe())
    why = panicking.unwritable(ROOT / "alice")
    assert why is not None
    assert why.startswith("the bucket s3://b cannot be reached (")
    with pytest.raises(LookupError, match="cannot be reached right now"):
        panicking.saved([ROOT / "alice"])
    with pytest.raises(LookupError, match="cannot be reached right now"):
        panicking.names(ROOT / "alice")
    with pytest.raises(LookupError, match="cannot be reached right now"):
        panicking.load(ROOT / "alice" / "poster.png", strict=True)
    assert panicking.load(ROOT / "alice" / "poster.png") is None
    assert panicking.serves(ROOT / "alice" / "poster.png")  # as a bucket that does not answer: it cannot tell
    assert not panicking.missing(ROOT / "alice" / "poster.png")
    panicking.discard(ROOT / "alice" / "poster.png")  # a second copy left as it is, as when a delete is refused
    proof = panicking.proven()
    assert proof is not None
    assert proof.startswith("the bucket s3://b takes no images with these credentials (")


def test_a_path_with_a_control_character_names_no_object_of_the_bucket(
    machines: tuple[BucketStore, BucketStore, str],
) -> None:
    # obstore refuses such a key with a ValueError before any request: a resource or an input named so had been an
    # internal error, where a folder's file of that name is "no such file" (a review).
    a, _, _ = machines
    for name in ("a\nb.png", "a\x7fb.png", "a\x01b.png"):
        path = ROOT / "alice" / name
        assert a.key(path) is None
        assert a.load(path) is None
        assert a.missing(path)
        assert not a.serves(path)
        assert a.link(path) is None
        with pytest.raises(LookupError):
            a.read(path, [ROOT / "alice"], f"ideogram://images/{name}")
