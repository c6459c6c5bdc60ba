import hashlib

import pytest
from boto3.s3.transfer import TransferConfig

from ops.train import s3sync
from ops.core.aws_clients import AwsError

MiB = 1024 * 1024


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "Images"
    for breed, files in {"n1-beagle": ["a.jpg", "b.jpg"], "n2-pug": ["c.jpg"]}.items():
        (root / breed).mkdir(parents=True)
        for name in files:
            (root / breed / name).write_bytes(f"{breed}/{name}".encode() * 50)
    (root / ".DS_Store").write_bytes(b"junk")
    return root


def _keys(session, bucket):
    listing = session.client("s3").list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_first_run_uploads_every_visible_file_with_its_hash(mocked_aws, data_bucket, photos):
    s3 = mocked_aws.client("s3")
    result = s3sync.sync_to_s3(photos, data_bucket, "dogs/images/", client=s3, progress=False)

    assert result == s3sync.SyncResult(uploaded=3, skipped=0, bytes=sum(
        p.stat().st_size for p in photos.rglob("*.jpg")))
    assert _keys(mocked_aws, data_bucket) == [
        "dogs/images/n1-beagle/a.jpg", "dogs/images/n1-beagle/b.jpg", "dogs/images/n2-pug/c.jpg"]
    head = s3.head_object(Bucket=data_bucket, Key="dogs/images/n2-pug/c.jpg")
    body = (photos / "n2-pug" / "c.jpg").read_bytes()
    assert head["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert head["ContentType"] == "image/jpeg"


def test_second_run_uploads_nothing(mocked_aws, data_bucket, photos):
    s3 = mocked_aws.client("s3")
    s3sync.sync_to_s3(photos, data_bucket, "dogs/images/", client=s3, progress=False)
    calls = []
    s3.meta.events.register("before-call.s3.PutObject", lambda **kw: calls.append(kw))

    again = s3sync.sync_to_s3(photos, data_bucket, "dogs/images/", client=s3, progress=False)

    assert again == s3sync.SyncResult(uploaded=0, skipped=3, bytes=0)
    assert calls == []


def test_a_changed_file_of_the_same_size_is_uploaded_again(mocked_aws, data_bucket, photos):
    s3 = mocked_aws.client("s3")
    s3sync.sync_to_s3(photos, data_bucket, "dogs/", client=s3, progress=False)
    changed = photos / "n1-beagle" / "a.jpg"
    data = bytearray(changed.read_bytes())
    data[0] ^= 0xFF
    changed.write_bytes(bytes(data))

    again = s3sync.sync_to_s3(photos, data_bucket, "dogs/", client=s3, progress=False)

    assert (again.uploaded, again.skipped, again.bytes) == (1, 2, len(data))
    body = s3.get_object(Bucket=data_bucket, Key="dogs/n1-beagle/a.jpg")["Body"].read()
    assert body == bytes(data)


def test_multipart_objects_are_recognised_by_their_multipart_etag(mocked_aws, data_bucket,
                                                                  tmp_path):
    big = tmp_path / "big" / "weights.bin"
    big.parent.mkdir()
    big.write_bytes(bytes(range(256)) * (11 * MiB // 256))  # 11 MiB: three 5 MiB parts
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                              use_threads=False)
    s3 = mocked_aws.client("s3")
    first = s3sync.sync_to_s3(big.parent, data_bucket, "m/", client=s3, progress=False,
                              transfer=transfer)
    etag = s3.head_object(Bucket=data_bucket, Key="m/weights.bin")["ETag"].strip('"')
    heads = []
    s3.meta.events.register("before-call.s3.HeadObject", lambda **kw: heads.append(kw))

    second = s3sync.sync_to_s3(big.parent, data_bucket, "m/", client=s3, progress=False,
                               transfer=transfer)

    assert first.uploaded == 1 and etag.endswith("-3")
    assert s3sync.s3_etag(big, transfer) == etag
    assert (second.uploaded, second.skipped) == (0, 1)
    assert heads == []  # decided from the listing alone


def test_etag_that_is_not_an_md5_falls_back_to_the_stored_sha256(mocked_aws, data_bucket, photos,
                                                                 monkeypatch):
    # Under SSE-KMS the ETag is not the MD5 of the content: the metadata hash decides.
    s3 = mocked_aws.client("s3")
    s3sync.sync_to_s3(photos, data_bucket, "dogs/", client=s3, progress=False)
    monkeypatch.setattr(s3sync, "s3_etag", lambda path, transfer=None: "not-the-etag")

    again = s3sync.sync_to_s3(photos, data_bucket, "dogs/", client=s3, progress=False)

    assert (again.uploaded, again.skipped) == (0, 3)


def test_missing_bucket_is_a_one_line_error(mocked_aws, photos):
    with pytest.raises(AwsError, match=r"listing s3://nope-bucket/dogs/: NoSuchBucket"):
        s3sync.sync_to_s3(photos, "nope-bucket", "dogs/", client=mocked_aws.client("s3"),
                          progress=False)


def test_missing_folder_is_a_one_line_error(mocked_aws, data_bucket, tmp_path):
    with pytest.raises(AwsError, match="no such folder"):
        s3sync.sync_to_s3(tmp_path / "nope", data_bucket, "dogs/",
                          client=mocked_aws.client("s3"), progress=False)
