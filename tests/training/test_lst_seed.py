"""The original project's LST files (../shared/seed): our reader, writer and describe() agree with them."""
from collections import Counter

import pytest

from training import lst, lst_describe

TRAIN = "dog_breeds_all_fold_1_train.lst"
TEST = "dog_breeds_all_fold_1_test.lst"


@pytest.fixture(scope="module")
def original(seed_lst):
    return lst.read_lst(seed_lst / TRAIN), lst.read_lst(seed_lst / TEST)


def test_reads_the_originals_counts(original):
    train, test = original
    assert (len(train), len(test)) == (16464, 4116)
    assert len({e.class_id for e in train}) == len({e.class_id for e in test}) == 120


def test_originals_follow_the_format_we_write(original, seed_lst, tmp_path):
    for name, entries in zip((TRAIN, TEST), original):
        lst.write_lst(tmp_path / name, entries)  # same order as read
        assert (tmp_path / name).read_bytes() == (seed_lst / name).read_bytes()


def test_originals_indexes_classes_and_paths(original, seed_lst):
    train, test = original
    everything = sorted(train + test)
    assert [e.index for e in everything] == list(range(20580))
    assert [e.path for e in everything] == sorted(e.path for e in everything)  # sorted path order
    folders = (seed_lst / "stanford_dogs_classes.txt").read_text().split()
    assert folders == sorted(folders) and len(folders) == 120
    assert all(folders[e.class_id] == e.path.split("/")[0] for e in everything)
    assert not {e.path for e in train} & {e.path for e in test}


def test_originals_split_is_stratified_like_ours(original):
    train, test = original
    total = Counter(e.class_id for e in train + test)
    tested = Counter(e.class_id for e in test)
    assert all(abs(tested[c] - 0.2 * n) < 1 for c, n in total.items())

    ours_train, ours_test = lst.stratified_split(sorted(train + test), 0.2, seed=0)
    assert (len(ours_train), len(ours_test)) == (16464, 4116)
    ours = Counter(e.class_id for e in ours_test)
    assert all(abs(ours[c] - 0.2 * n) < 1 for c, n in total.items())


def test_describe_the_originals(seed_lst):
    info = lst_describe.describe(lst_describe.expand_paths(str(seed_lst)))

    assert [f.path.name for f in info.files] == [TRAIN, TEST]  # a folder: train first
    train, test = info.files
    assert (train.role, train.samples, train.num_classes) == ("train", 16464, 120)
    assert train.per_class[0] == 118 and train.per_class[2] == 202
    assert train.per_class[1] == pytest.approx(16464 / 120)
    assert (test.samples, test.per_class[0], test.per_class[2]) == (4116, 30, 50)
    assert (info.num_classes, info.num_training_samples, info.shared_paths) == (120, 16464, 0)


def test_class_names_from_the_originals_text_file(seed_lst):
    names = lst_describe.class_names(seed_lst / "stanford_dogs_classes.txt")
    assert len(names) == 120 and names[0] == "Chihuahua" and "golden retriever" in names


@pytest.mark.parametrize("text, words", [
    ("0\t1\n", "expected '<index>\\\\t<class id>\\\\t<path>'"),
    ("x\t1\ta.jpg\n", "2: expected"),
    ("0\tone\ta.jpg\n", "expected"),
], ids=["two-fields", "bad-index", "bad-class"])
def test_malformed_lines_name_file_and_line(tmp_path, text, words):
    path = tmp_path / "bad.lst"
    path.write_text("5\t0\tok/a.jpg\n" + text if "2:" in words else text)
    with pytest.raises(lst.LstError, match=words):
        lst_describe.describe([path])


def test_describe_reports_overlap(tmp_path):
    lst.write_lst(tmp_path / "a_train.lst",
                  [lst.LstEntry(0, 0, "x/1.jpg"), lst.LstEntry(1, 1, "y/2.jpg")])
    lst.write_lst(tmp_path / "a_test.lst", [lst.LstEntry(1, 1, "y/2.jpg")])
    info = lst_describe.describe(lst_describe.expand_paths(f"{tmp_path}/a_train.lst,{tmp_path}/a_test.lst"))
    assert info.shared_paths == 1 and info.num_classes == 2 and info.num_training_samples == 2
