#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A VMM's side of a save through vfiomigd, with the standard library only.

    vmm-client.py SOCKET --to FILE DEVICE...

DEVICE is a name the daemon opens ("0000:3b:00.1", a UUID, "sim:a" in tests) or
"fd:N:NAME": descriptor N of this process (a VFIO device the VMM owns) handed over
with SCM_RIGHTS under the name NAME.  FILE is opened here, with this process's rights,
and handed over as the stream (stream_fd).  The save asks for the quiesced
acknowledgement: when the daemon says every device is quiesced, this is where a VMM
stops its vCPUs; then it answers "continue" and reads the job's report from the
"finished" event.  Prints the report as one JSON line; exit 0 when the job succeeded,
1 otherwise.  The protocol is in vfiomigd(8).
"""
import argparse
import json
import os
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("socket")
    ap.add_argument("--to", required=True, help="file the stream is written to")
    ap.add_argument("devices", nargs="+")
    a = ap.parse_args()

    fds, devices = [], []
    for d in a.devices:
        if d.startswith("fd:"):
            num, _, name = d[3:].partition(":")
            devices.append({"fd": len(fds), "device": name} if name else {"fd": len(fds)})
            fds.append(int(num))
        else:
            devices.append(d)
    stream = os.open(a.to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    devices_fd_count = len(fds)
    fds.append(stream)

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.socket)
    # "version": the JSON contract this client speaks (schema/, installed under
    # share/vfiomig/schema/): a daemon that speaks another refuses the request
    req = {"version": 1, "id": 1, "cmd": "save", "devices": devices,
           "stream_fd": devices_fd_count, "quiesce_ack": True,
           "cancel_on_disconnect": True}
    # one sendmsg carries the line and its descriptors (vfiomigd(8), PROTOCOL)
    socket.send_fds(s, [json.dumps(req).encode() + b"\n"], fds)
    os.close(stream)  # the daemon has its own copy now

    buf = b""
    job = None
    while True:
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                print("vmm-client: vfiomigd closed the connection", file=sys.stderr)
                return 1
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        msg = json.loads(line)
        if msg.get("version") != 1:
            print("vmm-client: vfiomigd speaks JSON contract version %s, not 1"
                  % msg.get("version"), file=sys.stderr)
            return 1
        if msg.get("id") == 1:  # the answer to the save
            if not msg.get("ok"):
                print("vmm-client: save refused: %s" % msg["error"]["message"],
                      file=sys.stderr)
                return 1
            job = msg["result"]["job"]
            print("vmm-client: job %d started" % job, file=sys.stderr)
        elif msg.get("event") == "quiesced" and msg.get("job") == job:
            # Every device is quiesced and none has stopped: a VMM stops its
            # vCPUs here, then lets the devices stop.
            print("vmm-client: quiesced (%s): vCPUs stopped, continuing"
                  % ", ".join(d["device"] for d in msg.get("devices", [])),
                  file=sys.stderr)
            s.sendall(json.dumps({"version": 1, "id": 2, "cmd": "continue",
                                  "job": job}).encode() + b"\n")
        elif msg.get("id") == 2 and not msg.get("ok"):
            print("vmm-client: continue refused: %s" % msg["error"]["message"],
                  file=sys.stderr)
            return 1
        elif msg.get("event") == "finished" and msg.get("job") == job:
            print(json.dumps(msg))
            return 0 if msg.get("state") == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
