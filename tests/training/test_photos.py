import pytest

from tests.fixtures.lst_photos import BREEDS, PER_BREED, make_bad_photo
from training import photos


@pytest.mark.parametrize("kind, words", [
    ("truncated", "truncated or corrupt"),
    ("corrupt", "truncated or corrupt"),
    ("bad-header", "truncated or corrupt: no readable JPEG header"),
    ("empty", "empty file"),
    ("not-image", "not an image"),
    ("gif", "not a JPEG or PNG image (GIF)"),
    ("too-small", "too small: 200x150 < 224x224"),
    ("duplicate", f"duplicate of {BREEDS[0]}/"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_bad_photo_is_reported_and_left_out(small_images, kind, words):
    bad_path = make_bad_photo(small_images, kind)

    scan = photos.scan(small_images, progress=False)

    assert [p.path for p in scan.bad] == [bad_path]
    assert words in scan.bad[0].problem
    assert bad_path not in {p.path for p in scan.good}
    assert len(scan.good) == len(BREEDS) * PER_BREED


@pytest.mark.parametrize("kind, counter", [
    ("cmyk", "cmyk"), ("grayscale", "grayscale"), ("alpha", "alpha"),
])
def test_unusual_modes_are_used_but_counted(small_images, kind, counter):
    path = make_bad_photo(small_images, kind)

    scan = photos.scan(small_images, progress=False)

    assert scan.bad == []
    assert path in {p.path for p in scan.good}
    assert scan.report()["counts"][counter] == 1


def test_duplicate_keeps_the_first_in_sorted_order(small_images):
    original = sorted((small_images / BREEDS[2]).iterdir())[0]
    (small_images / BREEDS[2] / "a_copy.jpg").write_bytes(original.read_bytes())  # sorts first

    scan = photos.scan(small_images, progress=False)

    assert [(p.path, p.problem) for p in scan.bad] == [
        (f"{BREEDS[2]}/{original.name}", f"duplicate of {BREEDS[2]}/a_copy.jpg")]
    assert f"{BREEDS[2]}/a_copy.jpg" in {p.path for p in scan.good}


def test_extensions_match_without_case_and_other_files_are_ignored(small_images):
    source = sorted((small_images / BREEDS[0]).iterdir())[0]
    (small_images / BREEDS[0] / "upper.JPEG").write_bytes(source.read_bytes())
    (small_images / BREEDS[0] / "notes.txt").write_text("not a photo")
    (small_images / BREEDS[0] / ".DS_Store").write_bytes(b"\0\0")

    scan = photos.scan(small_images, progress=False)

    assert {p.path: p.kind for p in scan.bad} == {f"{BREEDS[0]}/upper.JPEG": "duplicate"}  # scanned
    assert scan.ignored == [f"{BREEDS[0]}/notes.txt"]


def test_min_size_comes_from_the_caller(small_images):
    scan = photos.scan(small_images, min_size=(300, 290), progress=False)
    assert scan.good == [] and {p.kind for p in scan.bad} == {"too-small"}
    assert scan.report()["min_size"] == {"height": 300, "width": 290}


def test_good_photos_are_in_sorted_path_order(small_images):
    scan = photos.scan(small_images, progress=False)
    paths = [p.path for p in scan.good]
    assert paths == sorted(paths) and len(paths) == 18


@pytest.mark.parametrize("classes, expected", [
    (None, list(BREEDS)),
    (2, list(BREEDS[:2])),
    ("2", list(BREEDS[:2])),
    ("golden retriever,Shih-Tzu", [BREEDS[0], BREEDS[2]]),
    ("n02099601-golden_retriever", [BREEDS[2]]),
    ("GOLDEN_RETRIEVER , beagle", [BREEDS[1], BREEDS[2]]),
    ("n02088364", [BREEDS[1]]),
    (["beagle"], [BREEDS[1]]),
], ids=["all", "first-n", "first-n-text", "display-names", "folder", "case-and-spaces", "wnid",
        "list"])
def test_select_classes(classes, expected):
    assert photos.select_classes(BREEDS, classes) == expected


@pytest.mark.parametrize("classes, words", [
    (0, "0 is out of range; allowed: 1..3"),
    (4, "4 is out of range"),
    ("poodle", "no breed folder matches 'poodle'; known: Shih-Tzu, beagle, golden retriever"),
    (",", "no breed named"),
], ids=["zero", "too-many", "unknown", "empty"])
def test_select_classes_errors(classes, words):
    with pytest.raises(photos.PhotoError, match=words):
        photos.select_classes(BREEDS, classes)


def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(photos.PhotoError, match="no such images folder"):
        photos.scan(tmp_path / "nope")
    with pytest.raises(photos.PhotoError, match="no breed folders"):
        photos.scan(tmp_path)
    (tmp_path / "Images" / "n02088364-beagle").mkdir(parents=True)
    with pytest.raises(photos.PhotoError, match=r"did you mean .*/Images\?"):
        photos.scan(tmp_path)
