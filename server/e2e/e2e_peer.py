#!/usr/bin/env python3
"""Peer processes for Vigil's process-level alerting tests.

  e2e_peer.py exporter PORT VALUE_FILE
      Serves GET /metrics with one gauge, nginx_connections_active, whose
      value is read from VALUE_FILE on every request (the test rewrites the
      file to move the value). A missing or empty file serves no sample.

  e2e_peer.py receiver PORT OUT_FILE
      The seed's webhook receiver: answers every POST with 200 and appends
      one JSON line per request to OUT_FILE:
      {"t_ms": <receive time, Unix ms>, "path": "...", "body": "<raw body>"}.

Both bind 127.0.0.1:PORT only, and print "ready" on stdout once listening.
"""

import http.server
import json
import socketserver
import sys
import threading
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def exporter(port, value_file):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                with open(value_file) as f:
                    value = f.read().strip()
            except OSError:
                value = ""
            body = "# TYPE nginx_connections_active gauge\n"
            if value:
                body += "nginx_connections_active %s\n" % value
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Server(("127.0.0.1", port), Handler)


def receiver(port, out_file):
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode("utf-8", "replace")
            line = json.dumps({"t_ms": int(time.time() * 1000),
                               "path": self.path, "body": body})
            with lock:
                with open(out_file, "a") as f:
                    f.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Server(("127.0.0.1", port), Handler)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("exporter", "receiver"):
        sys.stderr.write(__doc__)
        return 2
    make = exporter if sys.argv[1] == "exporter" else receiver
    server = make(int(sys.argv[2]), sys.argv[3])
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
