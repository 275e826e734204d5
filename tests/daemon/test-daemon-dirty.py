#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vfiomigd's DMA dirty logging through the memfd path, on simulated devices.

    test-daemon-dirty.py PATH-TO-vfiomigd

dirty_start / dirty_report / dirty_stop on an attached device: the bitmaps land in a
sealed memfd this test passes with SCM_RIGHTS, at the offset asked, bit for bit what
the simulator's pattern (sim key dma-dirty=N+K, vfiomig(8)) says; then what a hostile
or careless client sends: descriptors that are not memfds, unsealed or read-only
memfds, offsets and sizes past the memfd's real end, missing descriptors, bad ranges,
a device it does not hold.  The daemon must answer each with an error and live on,
leak no descriptor and print no sanitizer report.  TAP on stdout.
"""
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

n = 0
failed = 0


def ok(desc):
    global n
    n += 1
    print("ok %d - %s" % (n, desc))


def nok(desc, *diag):
    global n, failed
    n += 1
    failed += 1
    print("not ok %d - %s" % (n, desc))
    for d in diag:
        for line in str(d).splitlines():
            print("# " + line)


def check(cond, desc, *diag):
    if cond:
        ok(desc)
    else:
        nok(desc, *diag)


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.settimeout(20)
        self.buf = b""
        self.next_id = 1

    def call(self, req, fds=()):
        rid = self.next_id
        self.next_id += 1
        req = dict(req, id=rid)
        line = json.dumps(req).encode() + b"\n"
        if fds:
            socket.send_fds(self.s, [line], list(fds))
        else:
            self.s.sendall(line)
        while True:
            while b"\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise RuntimeError("vfiomigd closed the connection")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if msg.get("id") == rid:
                return msg


def memfd(size, seal=True, name="bitmap"):
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seal:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
    return fd


def pages_of(fd, offset, npages):
    """The page indexes set in the bitmap at @offset (u64 words, host order)."""
    nbytes = (npages + 63) // 64 * 8
    data = os.pread(fd, nbytes, offset)
    words = struct.unpack("=%dQ" % (nbytes // 8), data)
    return [i for i in range(npages) if words[i // 64] >> (i % 64) & 1]


class SimModel:
    """The simulated device's logging (sim.c): before each report it writes once; its
    k-th write dirties the device pages p of the logged ranges with
    p % every == (off + k - 1) % every; a report reads and clears."""

    def __init__(self, every, off, ranges, psize):
        self.every, self.off, self.psize = every, off, psize
        self.pages = set()
        for iova, length in ranges:
            self.pages |= set(range(iova // psize, (iova + length - 1) // psize + 1))
        self.dirty = set()
        self.k = 0

    def report(self, iova, length, rpsize):
        self.k += 1
        want = (self.off + self.k - 1) % self.every
        self.dirty |= {p for p in self.pages if p % self.every == want}
        bits = set()
        for p in sorted(self.dirty):
            lo, hi = max(p * self.psize, iova), min((p + 1) * self.psize, iova + length)
            if lo < hi:
                self.dirty.discard(p)
                bits |= set(range((lo - iova) // rpsize, (hi - 1 - iova) // rpsize + 1))
        return sorted(bits)


def main():
    daemon = sys.argv[1]
    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, "d.sock")
    log = open(os.path.join(tmp, "d.log"), "w+")
    d = subprocess.Popen([daemon, "--socket", sock], stderr=log)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    c = Conn(sock)
    c.call({"cmd": "version"})  # accepted: its connection counts from here
    fd_before = len(os.listdir("/proc/%d/fd" % d.pid))

    def err(msg):
        return (msg.get("error") or {}).get("errno_name")

    dev = "sim:dl,dma-dirty=3+1"
    r = c.call({"cmd": "attach", "devices": [dev]})
    check(r.get("ok"), "attach a simulated device with a dirty pattern", r)
    name = "sim:dl"

    r = c.call({"cmd": "dirty_report", "devices": [name], "bitmap_fd": 0,
                "ranges": [{"iova": 0, "length_bytes": 4096}]}, [memfd(4096)])
    check(err(r) == "EINVAL" and "not started" in r["error"]["message"]
          and r["error"].get("device") == name,
          "a report before any start: EINVAL, not started, naming the device", r)

    ranges = [(0x100000, 64 * 4096), (0x400000, 130 * 4096)]
    r = c.call({"cmd": "dirty_start", "devices": [name], "page_size_bytes": 4096,
                "ranges": [{"iova": a, "length_bytes": b} for a, b in ranges]})
    check(r.get("ok") and r["result"]["page_size_bytes"] == 4096 and r["result"]["range_count"] == 2 and
          r["result"]["requested_page_size_bytes"] == 4096,
          "dirty_start: two ranges, the page size used reported back", r)

    r = c.call({"cmd": "dirty_start", "devices": [name],
                "ranges": [{"iova": 0, "length_bytes": 4096}]})
    check(err(r) == "EALREADY", "a second start: EALREADY", r)

    model = SimModel(3, 1, ranges, 4096)
    size = 3 * 4096
    mfd = memfd(size)
    off = 4096 + 8
    good = True
    for rnd in range(3):
        r = c.call({"cmd": "dirty_report", "devices": [name], "bitmap_fd": 0,
                    "bitmap_offset": off,
                    "ranges": [{"iova": a, "length_bytes": b} for a, b in ranges]}, [mfd])
        if not r.get("ok"):
            nok("dirty_report round %d" % (rnd + 1), r)
            good = False
            break
        res = r["result"]
        at = off
        dirty_total = 0
        for i, (a, b) in enumerate(ranges):
            want = model.report(a, b, 4096)
            dirty_total += len(want)
            got = pages_of(mfd, at, b // 4096)
            ent = res["ranges"][i]
            if (got != want or ent["bitmap_offset"] != at or
                    ent["dirty_page_count"] != len(want) or
                    ent["page_count"] != b // 4096 or ent["length_bytes"] != b or
                    ent["bitmap_bytes"] != (b // 4096 + 63) // 64 * 8):
                nok("report %d range %d bit for bit" % (rnd + 1, i),
                    "want %s" % want, "got  %s" % got, r)
                good = False
            at += (b // 4096 + 63) // 64 * 8
        if res["bitmap_bytes"] != at - off or res["dirty_page_count"] != dirty_total:
            nok("report bytes", r)
            good = False
    if good:
        ok("three reports of two ranges into the memfd at offset %d: the pattern bit "
           "for bit, offsets and counts in the reply" % off)
    # bytes before the offset are untouched
    check(os.pread(mfd, off, 0) == b"\0" * off, "nothing written before bitmap_offset")

    # a coarser report page size: one bit per 64 KiB
    r = c.call({"cmd": "dirty_report", "devices": [name], "bitmap_fd": 0,
                "page_size_bytes": 65536, "ranges": [{"iova": ranges[0][0], "length_bytes": ranges[0][1]}]},
               [mfd])
    want = model.report(ranges[0][0], ranges[0][1], 65536)
    got = pages_of(mfd, 0, ranges[0][1] // 65536)
    check(r.get("ok") and r["result"]["page_size_bytes"] == 65536 and got == want,
          "a report in 64K pages merges the device's 4K pages", want, got, r)

    # ---- what a careless or hostile client sends ----
    rg = [{"iova": ranges[0][0], "length_bytes": 4096}]

    def report(fds, **kw):
        req = {"cmd": "dirty_report", "devices": [name], "bitmap_fd": 0, "ranges": rg}
        req.update(kw)
        return c.call(req, fds)

    r = report([memfd(4096, seal=False)])
    check(err(r) == "EPERM" and "F_SEAL_SHRINK" in r["error"]["message"],
          "an unsealed memfd (it could shrink under the mapping): EPERM", r)
    p = os.pipe()
    r = report([p[0]])
    check(err(r) == "EBADF" and "not a memfd" in r["error"]["message"], "a pipe: EBADF", r)
    os.close(p[0]); os.close(p[1])
    f = os.open(os.path.join(tmp, "file"), os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(f, 4096)
    r = report([f])
    check(err(r) == "EBADF", "a regular file on disk: EBADF", r)
    os.close(f)
    m = memfd(4096)
    ro = os.open("/proc/self/fd/%d" % m, os.O_RDONLY)
    r = report([ro])
    check(err(r) == "EBADF" and "writable" in r["error"]["message"],
          "a read-only descriptor of the memfd: EBADF", r)
    os.close(ro)
    r = report([m], bitmap_offset=4096)
    check(err(r) == "ENOBUFS", "offset at the memfd's end, no room: ENOBUFS", r)
    r = report([m], bitmap_offset=8192)
    check(err(r) == "ERANGE", "offset past the memfd's end: ERANGE", r)
    r = report([m], bitmap_offset=8, bitmap_size_bytes=4096)
    check(err(r) == "ERANGE", "offset + size past the memfd's real size: ERANGE", r)
    r = report([m], bitmap_offset=4)
    check(err(r) == "EINVAL", "an offset that is not a multiple of 8: EINVAL", r)
    r = report([m], bitmap_offset=(1 << 40) + 8)
    check(err(r) == "EINVAL", "an offset above the protocol's bound: EINVAL", r)
    r = report([memfd(4096)], ranges=[{"iova": 0x100000, "length_bytes": 64 * 4096 * 64 * 8}])
    check(err(r) == "ERANGE", "a range outside the logged ones: ERANGE", r)
    r = report([m], bitmap_size_bytes=7)
    check(err(r) == "ENOBUFS", "bitmap_size_bytes smaller than the bitmap: ENOBUFS", r)
    r = report([m], bitmap_fd=1)
    check(err(r) == "EBADF", "bitmap_fd names a descriptor not sent: EBADF", r)
    r = report([])
    check(err(r) == "EBADF", "no descriptor at all: EBADF", r)
    r = report([m], ranges=[{"iova": 0x100000, "length_bytes": 4096}] * 257)
    check(err(r) == "E2BIG", "257 ranges: E2BIG", r)
    r = report([m], ranges=[{"iova": 0x100000, "length_bytes": 4096, "x": 1}])
    check(err(r) == "EINVAL", "an unknown field in a range: EINVAL", r)
    r = report([m], ranges=[{"iova": 0x100000, "length": 4096}])
    check(err(r) == "EINVAL" and 'unknown field "length"' in r["error"]["message"],
          "a range's length is length_bytes (the contract's name): \"length\" refused", r)
    r = report([m], ranges=[{"iova": 0x100000, "length_bytes": 0}])
    check(err(r) == "EINVAL", "an empty range: EINVAL", r)
    r = report([m], ranges=[{"iova": -1, "length_bytes": 4096}])
    check(err(r) == "EINVAL", "a negative IOVA: EINVAL", r)
    r = report([m], page_size_bytes=3000)
    check(err(r) == "EINVAL", "a report page size that is not a power of two: EINVAL", r)
    r = report([m], ranges=[{"iova": 0x100001, "length_bytes": 4096}])
    check(err(r) == "EINVAL", "an unaligned range: EINVAL", r)
    r = c.call({"cmd": "dirty_report", "devices": ["sim:nothere"], "bitmap_fd": 0,
                "ranges": rg}, [m])
    check(err(r) == "ENOENT", "a device vfiomigd does not hold: ENOENT", r)
    r = c.call({"cmd": "dirty_report", "devices": [name, name], "bitmap_fd": 0,
                "ranges": rg}, [m])
    check(err(r) == "EINVAL", "two devices in one request: EINVAL", r)
    r = c.call({"cmd": "dirty_start", "devices": ["fd:0:sim:x"], "ranges": rg}, [m])
    check(err(r) == "EINVAL", "a passed descriptor as the device: EINVAL", r)
    os.close(m)

    r = c.call({"cmd": "dirty_stop", "devices": [name]})
    check(r.get("ok") and r["result"]["stopped"] is True, "dirty_stop", r)
    r = c.call({"cmd": "dirty_stop", "devices": [name]})
    check(err(r) == "EINVAL", "a second stop: EINVAL, not started", r)

    r = c.call({"cmd": "attach", "devices": ["sim:nolog,no-dma-logging"]})
    r = c.call({"cmd": "dirty_start", "devices": ["sim:nolog"], "ranges": rg})
    check(err(r) == "EOPNOTSUPP" and "sim:nolog: the driver does not support DMA dirty "
          "logging" in r["error"]["message"],
          "a driver without logging: EOPNOTSUPP, the device named", r)

    # logging on at detach: stopped with the device, and it can start again after
    r = c.call({"cmd": "dirty_start", "devices": [name], "ranges": rg})
    r2 = c.call({"cmd": "detach", "devices": [name]})
    r3 = c.call({"cmd": "attach", "devices": [dev]})
    r4 = c.call({"cmd": "dirty_start", "devices": [name], "ranges": rg})
    check(r.get("ok") and r2.get("ok") and r3.get("ok") and r4.get("ok"),
          "detach with logging on, attach again, start again", r, r2, r3, r4)

    r = c.call({"cmd": "version"})
    check(r.get("ok"), "the daemon still answers", r)
    fd_after = len(os.listdir("/proc/%d/fd" % d.pid))
    check(fd_after == fd_before, "no descriptor leaked (%d before, %d after)"
          % (fd_before, fd_after))
    c.s.close()
    d.terminate()
    d.wait(10)
    log.seek(0)
    text = log.read()
    check("runtime error" not in text and "Sanitizer" not in text,
          "no sanitizer report from the daemon", text)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
