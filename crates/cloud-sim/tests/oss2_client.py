"""Drives the simulator's OSS service with the official Aliyun OSS Python SDK (oss2), the way
MoviePilot's 115 storage does (spec upload.md section 2.7, "MP" bullet):

    StsAuth -> Bucket(auth, endpoint, bucket)
    init_multipart_upload(object, params={"encoding-type": "url", "sequential": ""})
    determine_part_size(size, preferred_size) ; upload_part sequentially (chunks read in memory)
    complete_multipart_upload(object, upload_id, parts,
        headers={"X-oss-callback": b64(callback), "x-oss-callback-var": b64(callback_var),
                 "x-oss-forbid-overwrite": "false"})

Usage: python oss2_client.py MODE CONFIG_JSON ; prints one JSON object on stdout.

Modes:
  upload   the flow above, plus ListParts paged 2 at a time before the Complete, and an
           explicit check of every part's x-oss-hash-crc64ecma (oss2 also checks it itself,
           enable_crc is on by default). CONFIG: endpoint, access_key_id, access_key_secret,
           security_token, bucket, object, callback, callback_var, path, part_size.
  expired  init_multipart_upload with (expired) credentials; reports the OssError.
"""

import json
import sys

import oss2
from oss2.models import PartInfo


def bucket_of(cfg):
    auth = oss2.StsAuth(
        cfg["access_key_id"], cfg["access_key_secret"], cfg["security_token"]
    )
    return oss2.Bucket(auth, cfg["endpoint"], cfg["bucket"])


def upload(cfg):
    bucket = bucket_of(cfg)
    key = cfg["object"]
    with open(cfg["path"], "rb") as f:
        data = f.read()
    size = len(data)
    upload_id = bucket.init_multipart_upload(
        key, params={"encoding-type": "url", "sequential": ""}
    ).upload_id
    part_size = oss2.determine_part_size(size, preferred_size=cfg["part_size"])
    parts = []
    crc_checked = 0
    offset = 0
    number = 1
    while offset < size:
        chunk = data[offset : offset + part_size]
        result = bucket.upload_part(key, upload_id, number, chunk)
        crc = oss2.utils.Crc64()
        crc.update(chunk)
        if result.crc is None or int(result.crc) != crc.crc:
            raise SystemExit(f"part {number}: CRC {result.crc} != {crc.crc}")
        crc_checked += 1
        parts.append(PartInfo(number, result.etag))
        offset += len(chunk)
        number += 1
    listed = []
    marker = ""
    while True:
        page = bucket.list_parts(key, upload_id, marker=marker, max_parts=2)
        listed.extend(
            {"number": p.part_number, "size": p.size, "etag": p.etag} for p in page.parts
        )
        if not page.is_truncated:
            break
        marker = page.next_marker
    headers = {
        "X-oss-callback": oss2.utils.b64encode_as_string(cfg["callback"]),
        "x-oss-callback-var": oss2.utils.b64encode_as_string(cfg["callback_var"]),
        "x-oss-forbid-overwrite": "false",
    }
    result = bucket.complete_multipart_upload(key, upload_id, parts, headers=headers)
    body = result.resp.read()
    try:
        body = json.loads(body)
    except ValueError:
        body = body.decode("utf-8", "replace")
    return {
        "status": result.status,
        "body": body,
        "parts": len(parts),
        "part_size": part_size,
        "crc_checked": crc_checked,
        "listed": listed,
        "etags": [p.etag for p in parts],
    }


def expired(cfg):
    bucket = bucket_of(cfg)
    try:
        bucket.init_multipart_upload(cfg["object"])
    except oss2.exceptions.OssError as e:
        return {
            "status": e.status,
            "code": e.code,
            "ec": e.details.get("EC", ""),
            "request_id": e.request_id,
        }
    return {"status": 200, "code": ""}


def main():
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    out = {"upload": upload, "expired": expired}[mode](cfg)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
