import hashlib
import logging
import socket

import pytest

from ops.data import download as dl
from tests.fixtures.download_server import build_tar
from tests.fixtures.lst_photos import BREEDS
from training import lst


@pytest.fixture(autouse=True)
def _quiet_werkzeug():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the cut responses log tracebacks


def md5(path):
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def test_full_download_extracts_the_images_layout(tar_server, tmp_path):
    dest = tmp_path / "data"  # a folder that does not exist yet

    result = dl.download(dest, url=tar_server.url, checksum=md5(tar_server.archive), progress=False)

    assert result.archive.read_bytes() == tar_server.archive.read_bytes()
    assert result.images == dest / "Images" and result.breeds == list(BREEDS)
    assert sorted(p.parent.name for p in result.images.glob("*/*.jpg")) == sorted(BREEDS * 2)
    assert result.photos == 6 and result.fetched_bytes == tar_server.archive.stat().st_size
    assert tar_server.ranges == [None]
    assert sorted(p.name for p in dest.iterdir()) == ["Images", "images.tar"]  # no leftovers
    rendered = lst.render(result.images, tmp_path / "lst", test_fraction=0.5, min_size=(0, 0),
                          progress=False)
    assert rendered.num_classes == 3


def test_a_cut_connection_is_resumed_with_a_range_request(tar_server, tmp_path):
    tar_server.cut_next = 1

    result = dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive),
                         backoff=0, progress=False)

    assert result.archive.read_bytes() == tar_server.archive.read_bytes()
    half = tar_server.archive.stat().st_size // 2
    assert tar_server.ranges == [None, f"bytes={half}-"]


def test_an_interrupted_download_resumes_on_the_next_run(tar_server, tmp_path):
    tar_server.cut_next = 1
    size = tar_server.archive.stat().st_size

    with pytest.raises(dl.DownloadError) as err:
        dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive), retries=0,
                    progress=False)

    assert "run the command again to resume" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "images.tar").exists()
    assert (tmp_path / "images.tar.part").stat().st_size == size // 2

    result = dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive),
                         progress=False)

    assert result.resumed_from == size // 2 and result.fetched_bytes == size - size // 2
    assert result.archive.read_bytes() == tar_server.archive.read_bytes()
    assert not (tmp_path / "images.tar.part").exists()


def test_a_server_that_ignores_range_restarts_cleanly(tar_server, tmp_path):
    (tmp_path / "images.tar.part").write_bytes(b"x" * 100)
    tar_server.ignore_range = True

    result = dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive),
                         progress=False)

    assert tar_server.ranges == ["bytes=100-"]
    assert result.archive.read_bytes() == tar_server.archive.read_bytes()


def test_checksum_mismatch_is_a_clear_error_and_leaves_no_file(tar_server, tmp_path):
    wrong = "md5:" + "0" * 32

    with pytest.raises(dl.DownloadError) as err:
        dl.download(tmp_path, url=tar_server.url, checksum=wrong, progress=False)

    message = str(err.value)
    assert "checksum mismatch" in message and "0" * 32 in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server"]  # nothing downloaded is left


def test_sha256_checksums_and_an_existing_archive_is_reused(tar_server, tmp_path):
    sha = "sha256:" + hashlib.sha256(tar_server.archive.read_bytes()).hexdigest()
    dl.download(tmp_path, url=tar_server.url, checksum=sha, progress=False)

    again = dl.download(tmp_path, url=tar_server.url, checksum=sha, breeds=1, progress=False)

    assert again.fetched_bytes == 0 and tar_server.ranges == [None]
    assert again.breeds == [BREEDS[0]]
    assert sorted(p.name for p in (tmp_path / "Images").iterdir()) == [BREEDS[0]]


def test_breeds_keeps_the_first_n(tar_server, tmp_path):
    result = dl.download(tmp_path, url=tar_server.url, checksum=None, breeds=2, progress=False)
    assert result.breeds == list(BREEDS[:2]) and result.photos == 4


def test_breeds_out_of_range(tar_server, tmp_path):
    with pytest.raises(dl.DownloadError, match=r"breeds: 4 is out of range; allowed: 1\.\.3"):
        dl.download(tmp_path, url=tar_server.url, checksum=None, breeds=4, progress=False)
    assert not (tmp_path / "Images").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "Images/../../evil.txt"],
                         ids=["parent", "absolute", "nested-parent"])
def test_path_traversal_is_refused(dogs10, tmp_path, name):
    archive = build_tar(tmp_path / "images.tar", dogs10, per_breed=1, extra={name: b"owned"})
    dest = tmp_path / "dest"

    with pytest.raises(dl.DownloadError, match="unsafe archive"):
        dl.extract(archive, dest, progress=False)

    assert not (tmp_path / "evil.txt").exists() and not (dest / "Images").exists()


def test_not_a_tar(tmp_path):
    (tmp_path / "images.tar").write_bytes(b"<html>moved</html>")
    with pytest.raises(dl.DownloadError, match="not a readable tar archive"):
        dl.extract(tmp_path / "images.tar", tmp_path, progress=False)


def test_http_error_status(tar_server, tmp_path):
    with pytest.raises(dl.DownloadError, match="HTTP 404"):
        dl.download(tmp_path, url=tar_server.url.replace("images.tar", "nope.tar"),
                    checksum=None, progress=False)


def test_unreachable_server(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(dl.DownloadError, match="cannot connect"):
        dl.download(tmp_path, url=f"http://127.0.0.1:{port}/images.tar", checksum=None,
                    retries=1, backoff=0, timeout=5, progress=False)


@pytest.mark.parametrize("text, expected", [
    ("md5:" + "a" * 32, ("md5", "a" * 32)),
    ("SHA256:" + "B" * 64, ("sha256", "b" * 64)),
    ("c" * 64, ("sha256", "c" * 64)),
    ("none", None),
    ("", None),
], ids=["md5", "sha256-upper", "bare", "none", "empty"])
def test_parse_checksum(text, expected):
    assert dl.parse_checksum(text) == expected


@pytest.mark.parametrize("text", ["md5:xyz", "crc:1234", "abc", "md5:" + "a" * 31])
def test_bad_checksum(text):
    with pytest.raises(dl.DownloadError, match="checksum: .* is not allowed"):
        dl.parse_checksum(text)


def test_default_checksum_is_the_known_md5():
    assert dl.parse_checksum(dl.DEFAULT_CHECKSUM) == ("md5", "1bb1f2a596ae7057f99d7d75860002ef")


def test_a_complete_partial_file_is_verified_not_fetched_again(tar_server, tmp_path):
    data = tar_server.archive.read_bytes()
    (tmp_path / "images.tar.part").write_bytes(data)  # cut after the last byte, before the rename

    result = dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive),
                         progress=False)

    assert tar_server.ranges == [f"bytes={len(data)}-"]  # the server answers 416: nothing left
    assert result.fetched_bytes == 0 and result.archive.read_bytes() == data


def test_a_partial_file_longer_than_the_archive_is_restarted(tar_server, tmp_path):
    size = tar_server.archive.stat().st_size
    (tmp_path / "images.tar.part").write_bytes(b"x" * (size + 10))

    result = dl.download(tmp_path, url=tar_server.url, checksum=md5(tar_server.archive),
                         backoff=0, progress=False)

    assert tar_server.ranges == [f"bytes={size + 10}-", None]
    assert result.archive.read_bytes() == tar_server.archive.read_bytes()


def _headers_only_tar(path, infos):
    """A tar of headers as given (sizes may lie: no data follows them)."""
    import tarfile

    with tarfile.open(path, "w") as tar:
        for info in infos:
            tar.addfile(info)
    return path


def _file_info(name, size=0):
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    return info


def test_caps_leave_room_for_the_stanford_archive():
    assert dl.MAX_MEMBERS >= 5 * 20_700 - 3_500 and dl.MAX_UNPACKED_BYTES >= 4 * 757_000_000


def test_an_archive_of_too_many_members_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "MAX_MEMBERS", 50)  # the real cap is 100,000: the same code path, smaller
    archive = _headers_only_tar(tmp_path / "images.tar",
                                [_file_info(f"Images/b{i}/p{i}.jpg") for i in range(51)])

    with pytest.raises(dl.DownloadError, match="more than 50 members"):
        dl.extract(archive, tmp_path / "dest", progress=False)

    assert not (tmp_path / "dest").exists()


def test_a_member_claiming_more_than_4_gib_is_refused_before_anything_is_written(tmp_path):
    archive = _headers_only_tar(tmp_path / "images.tar",
                                [_file_info("Images/b/p.jpg", size=5 * 2**30)])

    with pytest.raises(dl.DownloadError, match="more than 4 GiB unpacked"):
        dl.extract(archive, tmp_path / "dest", progress=False)

    assert not (tmp_path / "dest").exists()
