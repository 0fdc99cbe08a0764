"""Stands in for Nova's os-server-external-events endpoint in the SDN clone's test:
records each POST (path, token, body) as a JSON line in RECORD and answers 200 as Nova does.

    python3 nova_events_recorder.py PORT RECORD
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, record = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(record, "a") as f:
            f.write(json.dumps({"path": self.path, "token": self.headers.get("X-Auth-Token"), "body": body}) + "\n")
        answer = json.dumps({"events": [dict(e, code=200) for e in body["events"]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Handler).serve_forever()
