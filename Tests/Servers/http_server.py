#!/usr/bin/env python3
"""A small HTTP(S) file server for Spool's tests, with paths that misbehave on purpose.

usage: http_server.py PORT ROOT [CERT KEY]
  GET  /<path>               the file ROOT/<path>
  PUT  /<path>               stores the body as ROOT/<path>
  GET  /redirect/<path>      302 to /<path>
  GET  /status/<code>        that status, with a body naming it
  GET  /drop/<path>          announces the whole file, sends half, closes the connection
  GET  /fail-once/<path>     503 the first time for each path, then the file
  GET  /slow/<path>          waits 30 s, then the file
"""
import http.server
import os
import ssl
import sys
import threading
import time

PORT, ROOT = int(sys.argv[1]), sys.argv[2]
failed_once = set()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path))

    def send_bytes(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def file(self, name):
        path = os.path.normpath(os.path.join(ROOT, name.lstrip("/")))
        if not path.startswith(os.path.abspath(ROOT)) or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def do_GET(self):
        parts = self.path.split("/", 2)
        kind = parts[1] if len(parts) > 2 else ""
        rest = parts[2] if len(parts) > 2 else ""
        if kind == "redirect":
            return self.send_bytes(302, b"", [("Location", "/" + rest)])
        if kind == "status":
            return self.send_bytes(int(rest), ("status %s from the test server" % rest).encode())
        if kind == "fail-once":
            with lock:
                first = rest not in failed_once
                failed_once.add(rest)
            if first:
                return self.send_bytes(503, b"try again later")
        if kind == "slow":
            time.sleep(30)
        name = rest if kind in ("fail-once", "slow", "drop") else self.path
        body = self.file(name)
        if body is None:
            return self.send_bytes(404, b"no such file")
        if kind == "drop":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_bytes(200, body, [("Content-Type", "text/csv")])

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        path = os.path.join(ROOT, self.path.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(body)
        self.send_bytes(201, b"stored %d bytes" % len(body))

    do_POST = do_PUT


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 4:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
