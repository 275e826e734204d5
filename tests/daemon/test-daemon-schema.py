#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vfiomigd's messages against schema/: a conversation that makes the daemon send
every kind of response and event (results of every command, errors with and without
a device, jobs that succeed, fail, fail before their stream opens, the quiesced
acknowledgement, shutdown), every line checked against its schema: requests against
vfiomigd-request, each line the daemon sends against vfiomigd-message, each result
against the result_* of its command.  TAP on stdout.

    test-daemon-schema.py VFIOMIGD SCHEMA_DIR VALIDATE_JSON_PY
"""
import fcntl
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

RESULT_OF = {
    "version": "result_version", "list": "result_devices", "info": "result_devices",
    "attach": "result_devices", "detach": "result_detach", "save": "result_started",
    "restore": "result_started", "job": "result_job", "jobs": "result_jobs",
    "unwatch": "result_empty", "cancel": "result_empty", "continue": "result_empty",
    "shutdown": "result_empty", "resume": "result_held", "release": "result_held",
    "dirty_start": "result_dirty_start", "dirty_report": "result_dirty_report",
    "dirty_stop": "result_dirty_stop",
}

n = 0
failed = 0


def point(good, desc, diag=()):
    global n, failed
    n += 1
    failed += 0 if good else 1
    print("%s %d - %s" % ("ok" if good else "not ok", n, desc))
    for d in diag if not good else ():
        for line in str(d).splitlines():
            print("# " + line)
    sys.stdout.flush()


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    daemon, schema_dir, vj_path = sys.argv[1:]
    if not hasattr(socket, "send_fds"):
        print("1..0 # SKIP python3 before 3.9 (no socket.send_fds)")
        return 0
    spec = importlib.util.spec_from_file_location("validate_json", vj_path)
    vj = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(vj)
    except SystemExit:
        print("1..0 # SKIP python3-jsonschema is not installed")
        return 0
    schemas = vj.load_dir(schema_dir)
    v_req = vj.validator_for(schemas, "vfiomigd-request")
    v_msg = vj.validator_for(schemas, "vfiomigd-message")
    v_res = {}
    problems = []
    counts = {"requests": 0, "lines": 0, "results": 0}

    tmp = tempfile.mkdtemp()
    sock = os.path.join(tmp, "d.sock")
    log = open(os.path.join(tmp, "d.log"), "w")
    proc = subprocess.Popen([daemon, "--socket", sock], stderr=log)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.settimeout(30)
    buf = [b""]
    cmd_of = {}
    next_id = [0]

    def check(kind, validator, doc, what):
        errs = vj.errors_of(validator, doc)
        if errs:
            problems.append("%s %s: %s" % (kind, what, json.dumps(doc)[:500]))
            problems.extend("  " + e for e in errs)

    def recv():
        while b"\n" not in buf[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("vfiomigd closed the connection")
            buf[0] += chunk
        line, buf[0] = buf[0].split(b"\n", 1)
        msg = json.loads(line)
        counts["lines"] += 1
        check("line", v_msg, msg, "")
        if "id" in msg and msg.get("ok") and msg["id"] in cmd_of:
            cmd, watch_all = cmd_of[msg["id"]]
            name = RESULT_OF.get(cmd)
            if cmd == "watch":
                name = "result_jobs" if watch_all else "result_job"
            if name not in v_res:
                v_res[name] = vj.validator_for(
                    schemas, "vfiomigd-response#/$defs/" + name, closed=True)
            counts["results"] += 1
            check("result of " + cmd, v_res[name], msg["result"], "")
        return msg

    def send(req, fds=(), valid=True):
        next_id[0] += 1
        req = dict(req, id=next_id[0])
        if valid:
            counts["requests"] += 1
            check("request", v_req, req, "")
        cmd_of[req["id"]] = (req.get("cmd"), bool(req.get("all")))
        data = json.dumps(req).encode() + b"\n"
        if fds:
            socket.send_fds(s, [data], list(fds))
        else:
            s.sendall(data)
        return req["id"]

    def call(req, fds=(), valid=True):
        rid = send(req, fds, valid)
        while True:
            msg = recv()
            if msg.get("id") == rid:
                return msg

    def until(pred):
        while True:
            msg = recv()
            if pred(msg):
                return msg

    try:
        r = call({"cmd": "version", "version": 1})
        point(r.get("ok") and r.get("version") == 1, "version: answered, contract 1", [r])
        r = call({"cmd": "list"})
        point(r.get("ok"), "list", [r])
        r = call({"cmd": "list", "probe": True})
        point(r.get("ok"), "list with probe", [r])
        r = call({"cmd": "info", "devices": ["sim:i1,size=1K,precopy=100"]})
        point(r.get("ok") and r["result"]["devices"][0]["estimate_bytes"] > 0,
              "info: estimate_bytes", [r])
        r = call({"cmd": "info", "devices": ["sim:i2,bogus=1"]})
        point(not r.get("ok") and r["error"].get("device") == "sim:i2,bogus=1",
              "info of a bad device: an error naming it", [r])
        r = call({"cmd": "attach", "devices": ["sim:d1,seed=3,size=64K", "sim:d2"]})
        point(r.get("ok") and [d["device"] for d in r["result"]["devices"]] ==
              ["sim:d1", "sim:d2"], "attach", [r])
        r = call({"cmd": "detach", "devices": ["sim:d2"]})
        point(r.get("ok") and r["result"] == {"devices": [{"device": "sim:d2"}]},
              "detach", [r])

        # a save with its stream handed over, acknowledged once quiesced
        img = os.path.join(tmp, "img")
        fd = os.open(img, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        r = call({"cmd": "save", "devices": ["sim:d1"], "stream_fd": 0,
                  "stream_name": "file:" + img, "quiesce_ack": True,
                  "ack_timeout_usec": 20000000, "precopy_max_rounds": 3,
                  "chunk_bytes": 65536, "timeout_usec": 30000000}, [fd])
        os.close(fd)
        job = r.get("result", {}).get("job")
        q = until(lambda m: m.get("event") == "quiesced" and m.get("job") == job)
        r = call({"cmd": "continue", "job": job})
        fin = until(lambda m: m.get("event") == "finished" and m.get("job") == job)
        point(q["ack_required"] and q["ack_timeout_usec"] == 20000000 and
              fin["success"] and fin["outcome"] == "written",
              "save: quiesced (ack_timeout_usec), continue, finished (written)", [q, fin])
        r = call({"cmd": "job", "job": job})
        point(r.get("ok") and r["result"]["stream_passed"] is True, "job", [r])
        r = call({"cmd": "jobs"})
        point(r.get("ok") and len(r["result"]["jobs"]) == 1, "jobs", [r])
        r = call({"cmd": "watch", "job": job})
        point(r.get("ok"), "watch a finished job", [r])
        r = call({"cmd": "watch", "all": True})
        point(r.get("ok"), "watch all", [r])
        r = call({"cmd": "unwatch", "all": True})
        point(r.get("ok") and r["result"] == {}, "unwatch all", [r])
        r = call({"cmd": "cancel", "job": job})
        point(not r.get("ok") and r["error"]["errno_name"] == "EALREADY",
              "cancel of a finished job: EALREADY", [r])
        r = call({"cmd": "resume", "job": job})
        point(not r.get("ok"), "resume of a save not in doubt: refused", [r])

        # a restore of that image, and one that fails
        fd = os.open(img, os.O_RDONLY)
        r = call({"cmd": "restore", "devices": ["sim:r1,size=64K,expect-seed=3"],
                  "stream_fd": 0, "map": [0], "timeout_usec": 30000000}, [fd])
        os.close(fd)
        job = r.get("result", {}).get("job")
        fin = until(lambda m: m.get("event") == "finished" and m.get("job") == job)
        point(fin["success"] and fin["outcome"] == "loaded" and
              fin["devices"][0]["state"] == "RUNNING", "restore: finished (loaded)", [fin])
        fd = os.open(img, os.O_RDONLY)
        r = call({"cmd": "restore", "devices": ["sim:r2,size=64K,expect-seed=9"],
                  "stream_fd": 0}, [fd])
        os.close(fd)
        job = r.get("result", {}).get("job")
        fin = until(lambda m: m.get("event") == "finished" and m.get("job") == job)
        point(not fin["success"] and fin["stage"] == "job" and
              fin["error"]["errno"] > 0 and fin["outcome"] == "failed",
              "a failed restore: error object, stage job", [fin])

        # a save over two data connections into a restore of the same daemon
        r = call({"cmd": "restore", "devices": ["sim:s2,size=256K,expect-seed=5"],
                  "from": "tcp://127.0.0.1:0", "timeout_usec": 30000000})
        rjob = r.get("result", {}).get("job")
        r = call({"cmd": "save", "devices": ["sim:s1,seed=5,size=256K"],
                  "to": r.get("result", {}).get("listening", "tcp://127.0.0.1:1"),
                  "streams": 2, "chunk_bytes": 16384, "timeout_usec": 30000000})
        sjob = r.get("result", {}).get("job")
        fins = {}
        while len(fins) < 2:
            m = until(lambda m: m.get("event") == "finished" and
                      m.get("job") in (rjob, sjob))
            fins[m["job"]] = m
        point(fins[sjob]["success"] and fins[sjob]["outcome"] == "migrated" and
              fins[sjob]["streams"] == 2 and fins[rjob]["success"] and
              fins[rjob]["streams"] == 2,
              "save with streams 2: both jobs say two data connections", [fins])

        # a job that fails before its stream opens: listening, then cancelled
        r = call({"cmd": "restore", "devices": ["sim:r3"], "from": "tcp://127.0.0.1:0"})
        job = r.get("result", {}).get("job")
        point(r.get("ok") and r["result"]["listening"].startswith("tcp://127.0.0.1:"),
              "restore listening: the result says where", [r])
        r = call({"cmd": "cancel", "job": job})
        fin = until(lambda m: m.get("event") == "finished" and m.get("job") == job)
        point(not fin["success"] and fin["stage"] == "endpoint",
              "cancelled while accepting: stage endpoint", [fin])

        # DMA dirty logging of an attached device, the bitmaps into a sealed memfd
        r = call({"cmd": "attach", "devices": ["sim:dd,dma-dirty=2"]})
        point(r.get("ok"), "attach a device that dirties every 2nd page", [r])
        rg = [{"iova": 0x100000, "length_bytes": 0x10000},
              {"iova": 0x200000, "length_bytes": 0x4000}]
        mfd = os.memfd_create("bitmap", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(mfd, 4096)
        fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
        r = call({"cmd": "dirty_report", "devices": ["sim:dd"], "ranges": rg,
                  "bitmap_fd": 0}, [mfd])
        point(not r.get("ok") and r["error"]["errno_name"] == "EINVAL" and
              r["error"]["device"] == "sim:dd", "dirty_report before dirty_start: EINVAL",
              [r])
        r = call({"cmd": "dirty_start", "devices": ["sim:dd"], "ranges": rg,
                  "page_size_bytes": 4096})
        point(r.get("ok") and r["result"]["range_count"] == 2 and
              r["result"]["page_size_bytes"] == 4096, "dirty_start", [r])
        r = call({"cmd": "dirty_report", "devices": ["sim:dd"], "ranges": rg,
                  "bitmap_fd": 0, "bitmap_offset": 64, "bitmap_size_bytes": 64,
                  "page_size_bytes": 4096}, [mfd])
        res = r.get("result", {})
        # the device writes before each range's report: every 2nd page of the
        # first, both writes (all pages) of the second
        point(r.get("ok") and res["dirty_page_count"] == 8 + 4 and
              [e["bitmap_offset"] for e in res["ranges"]] == [64, 72] and
              res["bitmap_bytes"] == 16, "dirty_report: the device's pattern, two bitmaps",
              [r])
        os.close(mfd)
        r = call({"cmd": "dirty_stop", "devices": ["sim:dd"]})
        point(r.get("ok") and r["result"]["stopped"] is True, "dirty_stop", [r])
        r = call({"cmd": "detach", "devices": ["sim:dd"]})

        # refusals
        s.sendall(b"{not json\n")
        r = until(lambda m: "id" in m)
        point(r["id"] is None and r["error"]["errno_name"] == "EPROTO",
              "malformed JSON: EPROTO, id null", [r])
        r = call({"cmd": "version", "version": 2}, valid=False)
        point(not r.get("ok") and r["error"]["errno_name"] == "EPROTONOSUPPORT",
              "a request of contract version 2: EPROTONOSUPPORT", [r])
        r = call({"cmd": "list", "name": "x"}, valid=False)
        point(not r.get("ok") and r["error"]["errno_name"] == "EINVAL",
              "an unknown field: EINVAL", [r])
        r = call({"cmd": "save", "devices": [{"fd": 0, "name": "sim:x"}],
                  "to": "file:/dev/null"}, valid=False)
        point(not r.get("ok") and "unknown field \"name\"" in r["error"]["message"],
              "a device object names its device with \"device\", not \"name\"", [r])

        r = call({"cmd": "shutdown"})
        ev = until(lambda m: m.get("event") == "shutdown")
        point(r.get("ok") and ev["reason"], "shutdown: answered, then the event", [r, ev])
        try:
            while True:
                recv()
        except (EOFError, OSError, socket.timeout):
            pass
    except (EOFError, OSError, socket.timeout, KeyError, TypeError, ValueError) as e:
        point(False, "the conversation went through", [repr(e)])
    finally:
        s.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    point(not problems,
          "every line matched its schema (%d requests, %d lines from the daemon, %d "
          "results)" % (counts["requests"], counts["lines"], counts["results"]),
          problems[:80])
    point(counts["lines"] >= 30 and counts["results"] >= 15,
          "the conversation covered the messages (at least 30 lines, 15 results)")
    log.close()
    with open(os.path.join(tmp, "d.log")) as f:
        text = f.read()
    point("runtime error" not in text and "Sanitizer" not in text,
          "no sanitizer report from the daemon", [text[-2000:]])
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
