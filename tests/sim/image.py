#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# image.py: edit a saved vfiomig image for the inspect tests, written from
# vfiomig-stream(5) (not from the C code), so that inspect meets bytes its own encoder
# did not make.
#   image.py vf IN OUT        announce and add a VF_CONFIG record for device 0 (MAC
#                             52:54:00:12:34:56, VLAN 100 qos 3 802.1Q, trust on,
#                             spoof check off, link state enable, rates 10/1000, VF 7)
#   image.py vf-bad IN OUT    the same with VLAN 5000 (the CRC right, the value not)
#   image.py flip IN OUT OFF  invert the byte at OFF
#   image.py len IN OUT OFF N set the 4-byte record length at OFF (a record start) to N
#   image.py records IN       print "offset type length" per record, no checks
import struct, sys


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(rtype, payload):
    head = struct.pack("<HHI", rtype, 0, len(payload))
    return head + payload + struct.pack("<I", crc32c(head + payload))


def records(img):
    off = 16
    while off + 8 <= len(img):
        rtype, _, length = struct.unpack_from("<HHI", img, off)
        yield off, rtype, length
        off += 12 + length


def vf_settings(vlan):
    have = 0x01 | 0x02 | 0x04 | 0x08 | 0x10 | 0x40  # mac vlan rate spoofchk trust link
    return struct.pack("<HHII6sHHBBBxxxIII", 1, 40, have, 7,
                       bytes.fromhex("525400123456"), vlan, 0x8100, 3, 1,
                       0x2,  # trust on, spoof check off
                       10, 1000, 0)


def add_vf(img, vlan):
    off, rtype, length = next(records(img))
    assert rtype == 1, "the first record is not a HEADER"
    payload = bytearray(img[off + 8:off + 8 + length])
    payload[16 + 34] |= 1  # descriptor 0: a VF_CONFIG record follows
    vf = record(6, struct.pack("<HH", 0, 0) + vf_settings(vlan))
    end = off + 12 + length
    return img[:off] + record(1, bytes(payload)) + vf + img[end:]


cmd, src = sys.argv[1], sys.argv[2]
img = open(src, "rb").read()
if cmd == "records":
    for off, rtype, length in records(img):
        print(off, rtype, length)
    sys.exit(0)
out = sys.argv[3]
if cmd in ("vf", "vf-bad"):
    img = add_vf(img, 100 if cmd == "vf" else 5000)
elif cmd == "flip":
    b = bytearray(img)
    b[int(sys.argv[4])] ^= 0xFF
    img = bytes(b)
elif cmd == "len":
    b = bytearray(img)
    struct.pack_into("<I", b, int(sys.argv[4]) + 4, int(sys.argv[5]))
    img = bytes(b)
else:
    sys.exit("image.py: unknown command " + cmd)
open(out, "wb").write(img)
