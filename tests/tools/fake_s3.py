#!/usr/bin/env python3
"""A tiny HTTP server for the integration tests, in one of two modes:

  fake_s3.py loop PORTFILE COUNTFILE
      answers every request with a truncated ListObjectsV2 page that names itself as the next
      page (the same NextContinuationToken every time): a listing that never ends.
  fake_s3.py proxy PORTFILE COUNTFILE UPSTREAM CUT_REGEX
      forwards every request to UPSTREAM (http://HOST:PORT) and back, except those whose
      "METHOD PATH" matches CUT_REGEX: their connection is closed without a reply (a connection
      cut in the middle of an operation; every time, as libcurl sends a request again once
      when a reused connection closes without a reply).

It listens on a free loopback port written to PORTFILE and writes the number of requests it
has answered (or cut) to COUNTFILE after each one.
"""
import http.client
import os
import http.server
import re
import sys
import urllib.parse

MODE = sys.argv[1]
PORTFILE, COUNTFILE = sys.argv[2], sys.argv[3]
UPSTREAM = urllib.parse.urlsplit(sys.argv[4]) if MODE == "proxy" else None
CUT = re.compile(sys.argv[5]) if MODE == "proxy" else None
state = {"count": 0}

LOOP_PAGE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    "<Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>same-token-again</NextContinuationToken>"
    "</ListBucketResult>"
).encode()

def counted():
    state["count"] += 1
    with open(COUNTFILE, "w") as f:
        f.write(f"{state['count']}\n")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        data = self.body()
        if MODE == "loop":
            counted()
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(LOOP_PAGE)))
            self.end_headers()
            self.wfile.write(LOOP_PAGE)
            return
        if CUT.search(f"{self.command} {self.path}"):
            counted()
            self.close_connection = True
            return
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
        upstream.request(self.command, self.path, body=data, headers=headers)
        reply = upstream.getresponse()
        payload = reply.read()
        counted()
        self.send_response(reply.status, reply.reason)
        for k, v in reply.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        else:
            self.send_header("Content-Length", reply.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up (the cut, or a killed pgtier) is expected here


server = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(f"{server.server_address[1]}\n")
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
