#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# relay.py TARGET_PORT CAPTURE: forward one TCP connection from a loopback port (printed
# on stdout as "port N") to 127.0.0.1:TARGET_PORT, both ways, and record the bytes
# that pass source -> destination in CAPTURE.  Exits when both directions ended.
import socket, sys, threading

target, capture = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print("port", ls.getsockname()[1], flush=True)
ls.settimeout(30)
a, _ = ls.accept()
b = socket.create_connection(("127.0.0.1", target))
out = open(capture, "wb")

def pump(src, dst, rec):
    while True:
        try:
            d = src.recv(65536)
        except OSError:
            d = b""
        if not d:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if rec:
            out.write(d)
        try:
            dst.sendall(d)
        except OSError:
            return

t = threading.Thread(target=pump, args=(b, a, False))
t.start()
pump(a, b, True)
t.join()
out.close()
