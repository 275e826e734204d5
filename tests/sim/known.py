#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# known.py SEED FILE: exit 0 if FILE holds body words 100..103 of a sim device image of
# SEED (src/device/sim.c: word k is splitmix64(seed + k), little-endian), else 1.
import struct, sys

M = (1 << 64) - 1
def splitmix64(x):
    z = (x + 0x9e3779b97f4a7c15) & M
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)

seed = int(sys.argv[1], 0)
needle = b"".join(struct.pack("<Q", splitmix64(seed + k)) for k in range(100, 104))
sys.exit(0 if needle in open(sys.argv[2], "rb").read() else 1)
