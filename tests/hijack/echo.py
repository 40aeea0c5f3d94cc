# SPDX-License-Identifier: GPL-2.0
"""TCP echo server and client (the test runs both under lkrun).

server PORT: echoes one connection until EOF.
client PORT IN OUT SS: once connected runs `ss -Htan state established`
as a child process (fork + exec under the preload, so inside lkd too) into
SS; then sends IN from one thread while another receives into OUT.
"""
import socket
import subprocess
import sys
import threading

mode, port = sys.argv[1], int(sys.argv[2])
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
else:
    data = open(sys.argv[3], "rb").read()
    c = socket.create_connection(("127.0.0.1", port))
    ss = subprocess.run(["ss", "-Htan", "state", "established"],
                        capture_output=True, text=True, check=True)
    open(sys.argv[5], "w").write(ss.stdout)

    def send():
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    chunks = []
    while True:
        d = c.recv(65536)
        if not d:
            break
        chunks.append(d)
    t.join()
    open(sys.argv[4], "wb").write(b"".join(chunks))
