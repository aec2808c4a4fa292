#!/usr/bin/env python3
"""The C wire header must say what Sources/EDRCore/Wire.swift says: every ETWRecordLayout
constant, the frame types, the protocol version, header size, maximum frame size and magic.
Prints one line per mismatch and exits 1, or a summary and exits 0.

    check-layout.py Sources/EDRCore/Wire.swift windows/common/edr_wire.h
"""
import re
import sys


def snake(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)  # providerID -> provider_ID
    s = re.sub(r"(?<=[a-z])(\d)", r"_\1", s)  # flag32 -> flag_32
    return s.upper()


def swift_int(text):
    text = text.replace("_", "")
    m = re.fullmatch(r"1\s*<<\s*(\d+)", text)
    if m:
        return 1 << int(m.group(1))
    return int(text, 0)


def main():
    swift = open(sys.argv[1], encoding="utf-8").read()
    header = open(sys.argv[2], encoding="utf-8").read()
    c = {}
    for m in re.finditer(r"#define[ \t]+(EDR_\w+)[ \t]+([^/\n]+)", header):
        v = re.sub(r"(?<=[0-9a-fA-F])u\b", "", m.group(2)).strip().strip("()").strip()
        try:
            c[m.group(1)] = swift_int(v)
        except ValueError:
            pass  # a macro that is not a number
    for m in re.finditer(r"EDR_FRAME_(\w+)\s*=\s*(\d+)", header):
        c["EDR_FRAME_" + m.group(1)] = int(m.group(2))

    expected = {}
    layout = re.search(r"public enum ETWRecordLayout \{(.*?)\n\}", swift, re.S).group(1)
    for m in re.finditer(r"static let (\w+)(?::\s*\w+)?\s*=\s*([0-9xXa-fA-F_]+)", layout):
        expected["EDR_ETW_" + snake(m.group(1))] = swift_int(m.group(2))
    for m in re.finditer(r"public static let (\w+) = FrameType\(rawValue: (\d+)\)", swift):
        expected["EDR_FRAME_" + snake(m.group(1))] = int(m.group(2))
    wire = re.search(r"public enum Wire \{(.*?)\n\}", swift, re.S).group(1)
    names = {"protocolVersion": "EDR_PROTOCOL_VERSION", "headerSize": "EDR_HEADER_SIZE",
             "maxFrameSize": "EDR_MAX_FRAME_SIZE", "magic": "EDR_MAGIC"}
    for m in re.finditer(r"static let (\w+)(?::\s*\w+)?\s*=\s*([^/\n]+)", wire):
        if m.group(1) in names:
            expected[names[m.group(1)]] = swift_int(m.group(2).strip())

    bad = 0
    for name, value in sorted(expected.items()):
        if name not in c:
            print(f"{sys.argv[2]}: {name} missing (Wire.swift: {value})")
            bad += 1
        elif c[name] != value:
            print(f"{sys.argv[2]}: {name} is {c[name]}, Wire.swift says {value}")
            bad += 1
    if bad:
        return 1
    print(f"{len(expected)} constants agree with Wire.swift")
    return 0


if __name__ == "__main__":
    sys.exit(main())
