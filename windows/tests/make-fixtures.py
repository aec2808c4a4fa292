#!/usr/bin/env python3
"""Writes the sensor's test fixtures: recorded etwRecord payloads (Sources/EDRCore/Wire.swift,
ETWRecordLayout), each preceded by its u32 little-endian length, and malformed variants.

    make-fixtures.py OUTDIR
"""
import struct
import sys
import uuid
from pathlib import Path

PROVIDERS = {
    "process": uuid.UUID("22FB2CD6-0E7B-422B-A0C7-2FAD1FD0E716"),
    "file": uuid.UUID("EDD08927-9CC4-4E65-B970-C2560FB5C289"),
    "network": uuid.UUID("7DD42A49-5329-4832-8DFD-43D979153A88"),
    "registry": uuid.UUID("70EB4F03-C1DE-4F73-A051-33D13D5413BD"),
    "dns": uuid.UUID("1C95126E-7EEA-49A9-A3FE-A378B03DDB4D"),
    "powershell": uuid.UUID("A0C1853B-5C40-4B15-8766-3CF1C58F985A"),
}


def record(provider, event_id, user_data, pid=1000, tid=2000, flags=0, keyword=0x10, ts=133_000_000_000_000_000,
           version=0, opcode=0, level=4, channel=16, task=1, udl=None, reserved=0):
    # provider GUID in Windows' in-memory order (Data1..3 little-endian): uuid.bytes_le
    head = PROVIDERS[provider].bytes_le + struct.pack(
        "<HBBBBHQIIQHHI", event_id, version, opcode, level, channel, task, keyword, pid, tid, ts, flags,
        len(user_data) if udl is None else udl, reserved)
    assert len(head) == 56
    return head + user_data


def framed(payload):
    return struct.pack("<I", len(payload)) + payload


def wide(s):
    return (s + "\0").encode("utf-16-le")


def good_records(n):
    kinds = list(PROVIDERS)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if i % 7 == 3:
            data = b""  # an event without user data
        else:
            data = struct.pack("<II", 4000 + i, i * 3) + wide(f"C:\\Windows\\System32\\cmd{i}.exe /c echo {i}")
        flags = 0x20 if i % 5 == 2 else 0  # some 32-bit headers
        out.append(record(kind, [1, 12, 12, 5, 3008, 4104][i % 6], data, pid=1000 + i, tid=2000 + i, flags=flags,
                          ts=133_000_000_000_000_000 + i * 10_000, opcode=i % 3, task=i % 11, keyword=1 << (i % 40)))
    return out


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    recs = good_records(10)
    (out / "ten.fixture").write_bytes(b"".join(framed(r) for r in recs))
    # A burst: 4,000 processes x (start, image load, stop), ~12,000 records of ~120-200 bytes.
    burst = []
    for p in range(4000):
        img = wide(f"C:\\burst\\p{p}.exe")
        burst.append(record("process", 1, struct.pack("<II", 10000 + p, 4) + img, pid=4, tid=8, ts=133_000_000_000_000_000 + p))
        burst.append(record("process", 5, struct.pack("<QQ", 0x7ff000000000 + p, 4096) + img, pid=10000 + p, ts=133_000_000_000_000_000 + p))
        burst.append(record("process", 2, struct.pack("<II", 10000 + p, 0), pid=10000 + p, ts=133_000_000_000_000_000 + p))
    (out / "burst.fixture").write_bytes(b"".join(framed(r) for r in burst))

    good = b"".join(framed(r) for r in recs[:3])  # records 0..2 fine, the 4th (index 3) broken
    bad = {
        # index 3 at offset len(good): only 2 bytes of a length field
        "truncated-length": good + b"\x10\x00",
        # index 3: a record cut short (the file ends inside it)
        "truncated-record": good + framed(recs[3])[:-5],
        # index 3: length larger than the file
        "length-too-large": good + struct.pack("<I", 1 << 20) + recs[4],
        # index 3: 20 bytes, shorter than the 56-byte header
        "too-short": good + framed(b"\x00" * 20),
        # index 3: UserDataLength says 10 more than there is
        "udl-mismatch": good + framed(record("file", 12, b"abcdefgh", udl=18)),
    }
    for name, data in bad.items():
        (out / f"bad-{name}.fixture").write_bytes(data)
    print(len(good), end="")  # the offset of record 3, for the test's messages


if __name__ == "__main__":
    main()
