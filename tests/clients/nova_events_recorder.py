"""Stands in for Nova's os-server-external-events endpoint in the SDN clone's tests:
records each POST (time, path, token, body, answer) as a JSON line in RECORD. The first
REFUSE posts (default 0) are answered as Nova answers an event for a server not on a
host yet (207, the event's code 422); the rest 200, as Nova takes them.

    python3 nova_events_recorder.py PORT RECORD [REFUSE]
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

port, record = int(sys.argv[1]), sys.argv[2]
refuse = int(sys.argv[3]) if len(sys.argv) > 3 else 0
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        seen += 1
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, code = (207, 422) if seen <= refuse else (200, 200)
        with open(record, "a") as f:
            f.write(json.dumps({"time": time.time(), "path": self.path,
                                "token": self.headers.get("X-Auth-Token"),
                                "body": body, "answer": code}) + "\n")
        answer = json.dumps({"events": [dict(e, code=code) for e in body["events"]]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
