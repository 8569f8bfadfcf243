#!/usr/bin/env python3
"""simctl.py SOCKET LINE: one command on apf-hubsim's control socket (tools/hubsim.c, "Control
channel"); prints the simulator's one-line JSON answer. Used by scripts/bench_hub.sh and
scripts/chaos.sh."""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(60)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode())
