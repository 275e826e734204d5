#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A VMM's side of a save through vfiomigd, with the standard library only.

    vmm-client.py SOCKET --to FILE [--dirty IOVA:LEN[,IOVA:LEN...]] DEVICE...

DEVICE is a name the daemon opens ("0000:3b:00.1", a UUID, "sim:a" in tests) or
"fd:N:NAME": descriptor N of this process (a VFIO device the VMM owns) handed over
with SCM_RIGHTS under the name NAME.  FILE is opened here, with this process's rights,
and handed over as the stream (stream_fd).  The save asks for the quiesced
acknowledgement: when the daemon says every device is quiesced, this is where a VMM
stops its vCPUs; then it answers "continue" and reads the job's report from the
"finished" event.  Prints the report as one JSON line; exit 0 when the job succeeded,
1 otherwise.  The protocol is in vfiomigd(8).

With --dirty, DMA dirty logging too: the devices are attached first (a descriptor
needs its NAME then), logging starts over the IOVA ranges (0x hex or decimal, 4K
pages), and when the devices are quiesced (the VMM's last pass over guest memory)
each device's dirty bitmap is read into a memfd sealed against shrinking that this
process shares with the daemon; "DEVICE: dirty D of P pages, bitmap HEX" goes to
stderr for each (HEX: the bitmap's bytes, page 8j+b in bit b of byte j).  Logging
stops and the devices are detached at the end.
"""
import argparse
import fcntl
import json
import os
import socket
import sys


class Daemon:
    """One connection: requests answered in order, events kept for the caller."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.events = []
        self.next_id = 1

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("vfiomigd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("version") != 1:
            raise ConnectionError("vfiomigd speaks JSON contract version %s, not 1"
                                  % msg.get("version"))
        return msg

    def send(self, req, fds=()):
        # "version": the JSON contract this client speaks (schema/, installed under
        # share/vfiomig/schema/): a daemon that speaks another refuses the request
        req = dict(req, version=1, id=self.next_id)
        self.next_id += 1
        line = json.dumps(req).encode() + b"\n"
        if fds:
            # one sendmsg carries the line and its descriptors (vfiomigd(8), PROTOCOL)
            socket.send_fds(self.s, [line], list(fds))
        else:
            self.s.sendall(line)
        return req["id"]

    def call(self, req, fds=()):
        """Send @req and return its response; events that come first are kept."""
        rid = self.send(req, fds)
        while True:
            msg = self.line()
            if msg.get("id") == rid:
                return msg
            self.events.append(msg)

    def event(self):
        return self.events.pop(0) if self.events else self.line()


def parse_ranges(text):
    ranges = []
    for part in text.split(","):
        iova, _, length = part.partition(":")
        ranges.append({"iova": int(iova, 0), "length_bytes": int(length, 0)})
    return ranges


def dirty_pass(d, names, ranges):
    """Each device's dirty pages of @ranges into a shared, sealed memfd."""
    size = sum((r["length_bytes"] // 4096 + 63) // 64 * 8 for r in ranges)
    mfd = os.memfd_create("dirty-bitmap", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(mfd, size)
        # the daemon maps it: it must not be able to shrink under that mapping
        fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        for name in names:
            r = d.call({"cmd": "dirty_report", "devices": [name], "ranges": ranges,
                        "bitmap_fd": 0}, [mfd])
            if not r.get("ok"):
                print("vmm-client: dirty_report %s: %s" % (name, r["error"]["message"]),
                      file=sys.stderr)
                return False
            res = r["result"]
            pages = sum(e["page_count"] for e in res["ranges"])
            bitmap = os.pread(mfd, res["bitmap_bytes"], 0)
            print("vmm-client: %s: dirty %d of %d pages, bitmap %s"
                  % (name, res["dirty_page_count"], pages, bitmap.hex()), file=sys.stderr)
    finally:
        os.close(mfd)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("--to", required=True, help="file the stream is written to")
    ap.add_argument("--dirty", help="IOVA:LEN[,...]: DMA dirty logging of the devices")
    ap.add_argument("devices", nargs="+")
    a = ap.parse_args()

    fds, devices = [], []
    for dev in a.devices:
        if dev.startswith("fd:"):
            num, _, name = dev[3:].partition(":")
            devices.append({"fd": len(fds), "device": name} if name else {"fd": len(fds)})
            fds.append(int(num))
        else:
            devices.append(dev)
    d = Daemon(a.socket)

    names = []
    ranges = parse_ranges(a.dirty) if a.dirty else None
    if ranges:
        # logging belongs to a device the daemon holds: attach them, then name them
        r = d.call({"cmd": "attach", "devices": devices}, fds)
        if not r.get("ok"):
            print("vmm-client: attach refused: %s" % r["error"]["message"], file=sys.stderr)
            return 1
        names = [x["device"] for x in r["result"]["devices"]]
        devices, fds = names, []
        for name in names:
            r = d.call({"cmd": "dirty_start", "devices": [name], "ranges": ranges,
                        "page_size_bytes": 4096})
            if not r.get("ok"):
                print("vmm-client: dirty_start refused: %s" % r["error"]["message"],
                      file=sys.stderr)
                return 1

    stream = os.open(a.to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    r = d.call({"cmd": "save", "devices": devices, "stream_fd": len(fds),
                "quiesce_ack": True, "cancel_on_disconnect": True}, fds + [stream])
    os.close(stream)  # the daemon has its own copy now
    if not r.get("ok"):
        print("vmm-client: save refused: %s" % r["error"]["message"], file=sys.stderr)
        return 1
    job = r["result"]["job"]
    print("vmm-client: job %d started" % job, file=sys.stderr)

    while True:
        msg = d.event()
        if msg.get("event") == "quiesced" and msg.get("job") == job:
            # Every device is quiesced and none has stopped: a VMM stops its
            # vCPUs here (and makes its last pass over guest memory, with the pages
            # its devices wrote), then lets the devices stop.
            print("vmm-client: quiesced (%s): vCPUs stopped, continuing"
                  % ", ".join(x["device"] for x in msg.get("devices", [])),
                  file=sys.stderr)
            abort = {} if not ranges or dirty_pass(d, names, ranges) else \
                {"abort": "the devices' dirty pages could not be read"}
            r = d.call(dict({"cmd": "continue", "job": job}, **abort))
            if not r.get("ok"):
                print("vmm-client: continue refused: %s" % r["error"]["message"],
                      file=sys.stderr)
                return 1
        elif msg.get("event") == "finished" and msg.get("job") == job:
            for name in names:
                d.call({"cmd": "dirty_stop", "devices": [name]})
            if names:
                d.call({"cmd": "detach", "devices": names})
            print(json.dumps(msg))
            return 0 if msg.get("state") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
