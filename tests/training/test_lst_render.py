import json
from collections import Counter

import pytest

from tests.fixtures.lst_photos import BREEDS, PER_BREED, make_bad_photo
from training import classmap, lst, photos


def _lst_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.lst"))}


def test_default_split_of_the_2000_photos_is_1600_400_and_repeatable(dogs10, tmp_path):
    first = lst.render(dogs10, tmp_path / "a", progress=False)
    again = lst.render(dogs10, tmp_path / "b", progress=False)

    assert (first.splits[0].train_count, first.splits[0].test_count) == (1600, 400)
    assert set(first.class_counts.values()) == {(160, 40)}
    assert _lst_bytes(tmp_path / "a") == _lst_bytes(tmp_path / "b")
    assert (tmp_path / "a" / "classes.json").read_bytes() == \
        (tmp_path / "b" / "classes.json").read_bytes()
    assert first.num_classes == 10 and again.num_training_samples == 1600


def test_files_follow_the_contract(small_images, tmp_path):
    out = tmp_path / "out"
    result = lst.render(small_images, out, progress=False)

    train, test = lst.find_split(out)
    entries = lst.read_lst(train) + lst.read_lst(test)
    assert sorted(e.index for e in entries) == list(range(len(BREEDS) * PER_BREED))
    by_index = sorted(entries)
    assert [e.path for e in by_index] == sorted(e.path for e in entries)  # indexes in path order
    classes = classmap.load(out)
    assert [c.folder for c in classes] == list(BREEDS)
    assert all(classes[e.class_id].folder == e.path.split("/")[0] for e in entries)
    for path in (train, test):
        text = path.read_text()
        assert text.endswith("\n") and "\r" not in text
        lines = text.splitlines()
        assert lines == sorted(lines, key=lambda line: int(line.split("\t")[0]))  # index order
    assert sorted(p.name for p in out.iterdir()) == [
        "classes.json", "dogs_test.lst", "dogs_train.lst", "scan_report.json"]  # no temp files
    assert result.files == [train, test, out / "classes.json", out / "scan_report.json"]


@pytest.mark.parametrize("sizes, fraction", [
    ((200, 200, 200), 0.2),
    ((7, 13, 1, 2, 150, 33), 0.2),
    ((10, 11, 12, 13, 14), 0.33),
    ((5, 9, 17), 0.5),
    ((3, 100), 0.9),
], ids=["even", "uneven", "third", "half", "mostly-test"])
def test_every_class_keeps_the_test_fraction_to_within_one_image(sizes, fraction):
    entries, index = [], 0
    for class_id, size in enumerate(sizes):
        for n in range(size):
            entries.append(lst.LstEntry(index, class_id, f"c{class_id}/{n:04d}.jpg"))
            index += 1

    train, test = lst.stratified_split(entries, fraction, seed=3)

    assert len(test) == round(fraction * len(entries))
    assert sorted(train + test) == entries and not {e.index for e in train} & {e.index for e in test}
    tested = Counter(e.class_id for e in test)
    for class_id, size in enumerate(sizes):
        assert abs(tested[class_id] - fraction * size) < 1, (class_id, tested[class_id], size)


def test_seed_changes_the_split_but_not_the_sizes(small_images, tmp_path):
    a = lst.render(small_images, tmp_path / "a", seed=0, progress=False)
    b = lst.render(small_images, tmp_path / "b", seed=1, progress=False)

    assert (a.splits[0].train_count, a.splits[0].test_count) == \
        (b.splits[0].train_count, b.splits[0].test_count) == (14, 4)  # 18 photos, 3.6 rounds to 4
    assert _lst_bytes(tmp_path / "a") != _lst_bytes(tmp_path / "b")


def test_adding_a_photo_moves_at_most_one_other_photo_per_breed(small_images, tmp_path):
    lst.render(small_images, tmp_path / "a", progress=False)
    make_bad_photo(small_images, "grayscale")  # a new, usable photo in the second breed
    lst.render(small_images, tmp_path / "b", progress=False)

    def split_of(folder):
        train, test = lst.find_split(folder)
        return {e.path: "train" for e in lst.read_lst(train)} | \
            {e.path: "test" for e in lst.read_lst(test)}

    before, after = split_of(tmp_path / "a"), split_of(tmp_path / "b")
    moved = [p for p in before if after[p] != before[p]]
    assert len({p.split("/")[0] for p in moved}) == len(moved) <= len(BREEDS)


@pytest.mark.parametrize("k", [2, 3, 6])
def test_folds_partition_the_photos_and_are_stratified(small_images, tmp_path, k):
    out = tmp_path / "out"
    result = lst.render(small_images, out, folds=k, progress=False)

    assert [s.fold for s in result.splits] == list(range(1, k + 1))
    tests = [lst.read_lst(out / f"dogs_fold_{n}_test.lst") for n in range(1, k + 1)]
    all_paths = sorted(e.path for fold in tests for e in fold)
    assert all_paths == sorted({e.path for fold in tests for e in fold})  # disjoint
    assert len(all_paths) == len(BREEDS) * PER_BREED  # covering
    for n, fold in enumerate(tests, start=1):
        train = lst.read_lst(out / f"dogs_fold_{n}_train.lst")
        assert len(train) + len(fold) == len(all_paths)
        assert not {e.path for e in train} & {e.path for e in fold}
        for class_id, count in Counter(e.class_id for e in fold).items():
            assert abs(count - PER_BREED / k) < 1
        assert len(set(Counter(e.class_id for e in fold))) == len(BREEDS)
    assert lst.find_split(out, fold=2)[0].name == "dogs_fold_2_train.lst"


def test_rerendering_removes_stale_files_of_the_same_name(small_images, tmp_path):
    out = tmp_path / "out"
    lst.render(small_images, out, folds=3, progress=False)
    (out / "other_train.lst").write_text("")
    result = lst.render(small_images, out, folds=2, progress=False)

    assert sorted(p.name for p in result.removed) == ["dogs_fold_3_test.lst", "dogs_fold_3_train.lst"]
    assert (out / "other_train.lst").exists()
    assert not (out / "dogs_fold_3_train.lst").exists()


def test_subset_renumbers_classes_and_indexes(small_images, tmp_path):
    out = tmp_path / "out"
    result = lst.render(small_images, out, classes="golden retriever,Shih-Tzu",
                        name="two", progress=False)

    assert [c.folder for c in result.classes] == [BREEDS[0], BREEDS[2]]
    train, test = lst.find_split(out)
    assert train.name == "two_train.lst"
    entries = lst.read_lst(train) + lst.read_lst(test)
    assert sorted(e.index for e in entries) == list(range(2 * PER_BREED))
    assert {e.class_id for e in entries if e.path.startswith(BREEDS[2])} == {1}


def test_first_n_classes(small_images, tmp_path):
    out = tmp_path / "out"
    result = lst.render(small_images, out, classes=2, progress=False)
    assert [c.folder for c in result.classes] == list(BREEDS[:2])


BAD_KINDS = ("truncated", "corrupt", "bad-header", "empty", "not-image", "gif", "too-small",
             "duplicate")


def test_bad_photos_are_reported_and_left_out_and_the_run_succeeds(small_images, tmp_path):
    bad = {make_bad_photo(small_images, kind): kind for kind in BAD_KINDS}
    fine = [make_bad_photo(small_images, kind) for kind in ("cmyk", "grayscale", "alpha")]

    result = lst.render(small_images, tmp_path / "out", progress=False)

    report = json.loads((tmp_path / "out" / "scan_report.json").read_text())
    assert {item["path"] for item in report["bad"]} == set(bad)
    assert all(item["reason"] for item in report["bad"])
    assert report["counts"] == {"grayscale": 1, "cmyk": 1, "alpha": 1}
    listed = {e.path for s in result.splits for f in (s.train, s.test) for e in lst.read_lst(f)}
    assert not listed & set(bad) and set(fine) <= listed
    assert len(listed) == len(BREEDS) * PER_BREED + len(fine)


def test_strict_makes_bad_photos_fatal_and_writes_no_lst(small_images, tmp_path):
    out = tmp_path / "out"
    make_bad_photo(small_images, "empty")
    make_bad_photo(small_images, "truncated")

    with pytest.raises(photos.PhotoError) as err:
        lst.render(small_images, out, strict=True, progress=False)

    message = str(err.value)
    assert message.startswith("2 bad photo(s)") and "\n" not in message and "--strict" in message
    assert list(out.glob("*.lst")) == []
    assert len(json.loads((out / "scan_report.json").read_text())["bad"]) == 2


def test_strict_passes_on_clean_photos(small_images, tmp_path):
    out = tmp_path / "out"
    result = lst.render(small_images, out, strict=True, progress=False)
    assert result.scan.bad == []


def test_a_breed_with_no_usable_photo_is_an_error(small_images, tmp_path):
    out = tmp_path / "out"
    for photo in (small_images / BREEDS[1]).iterdir():
        photo.write_bytes(b"")
    with pytest.raises(photos.PhotoError, match=f"{BREEDS[1]}: no usable photos"):
        lst.render(small_images, out, progress=False)


@pytest.mark.parametrize("options, words", [
    ({"test_fraction": 0}, "test fraction: 0 is not allowed"),
    ({"test_fraction": 1.5}, "test fraction: 1.5 is not allowed"),
    ({"seed": -1}, "seed: -1 is not allowed"),
    ({"folds": 1}, "folds: 1 is not allowed"),
    ({"folds": 7}, "folds: 7 is more than the 6 usable photos"),
    ({"name": "../x"}, "name: '../x' is not allowed"),
    ({"name": "a_fold_1"}, "not containing '_fold_'"),
    ({"classes": 1}, "one breed"),
    ({"test_fraction": 0.02}, "leaves no test photo"),
    ({"test_fraction": 0.95}, "with no training photo"),
], ids=lambda v: str(v))
def test_bad_options_are_one_line_errors(small_images, tmp_path, options, words):
    out = tmp_path / "out"
    with pytest.raises(lst.UserError) as err:
        lst.render(small_images, out, progress=False, **options)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_derived_hyperparameters(small_images, tmp_path):
    lst.render(small_images, tmp_path / "plain", progress=False)
    lst.render(small_images, tmp_path / "folds", folds=3, progress=False)

    assert lst.derived_hyperparameters(tmp_path / "plain") == {
        "num_classes": 3, "num_training_samples": 14}
    assert lst.derived_hyperparameters(tmp_path / "folds", fold=2) == {
        "num_classes": 3, "num_training_samples": 12}
