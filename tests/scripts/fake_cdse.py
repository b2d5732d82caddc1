#!/usr/bin/python3
"""A stand-in for the CDSE OpenSearch (resto) search endpoint, for the catalog tests.

Serves /resto/api/collections/<Collection>/search.json on 127.0.0.1 (a free port, printed as the
first line on stdout) from the features of real saved responses (tests/data/cdse), like resto:
features whose startDate is in [startDate, completionDate) (when given), sorted by startDate,
paged by maxRecords/page, with a rel=next link while more pages exist. Scripted misbehaviour:

  --fail CODE[:N]      answer the first N requests (default: all) with HTTP CODE
  --retry-after S      add "Retry-After: S" to those answers
  --malformed          answer 200 with a truncated JSON body
  --log FILE           append one JSON line per request (path, query, user_agent, status)
  --timeout S          stop by itself after S seconds (default 120)

Standard library only; run with /usr/bin/python3.
"""

import argparse
import json
import sys
import threading
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer


def parse_time(s):
    s = s.strip().replace("Z", "")
    if "." in s:
        head, frac = s.split(".", 1)
        s = head + "." + frac[:6]
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)


def load_features(files):
    features = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            features.extend(json.load(fh)["features"])
    features.sort(key=lambda ft: parse_time(ft["properties"]["startDate"]))
    return features


class State:
    def __init__(self, args):
        self.args = args
        self.features = load_features(args.files)
        self.requests = 0
        self.lock = threading.Lock()
        fail = args.fail
        self.fail_code = None
        self.fail_count = 0
        if fail:
            code, _, n = fail.partition(":")
            self.fail_code = int(code)
            self.fail_count = int(n) if n else 1 << 30


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet
            pass

        def send(self, status, body, extra_headers=()):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra_headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def record(self, query, status):
            if state.args.log:
                with open(state.args.log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"path": urllib.parse.urlsplit(self.path).path,
                                         "query": query,
                                         "user_agent": self.headers.get("User-Agent", ""),
                                         "status": status}) + "\n")

        def do_GET(self):
            parts = urllib.parse.urlsplit(self.path)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
            with state.lock:
                state.requests += 1
                n = state.requests
            if not (parts.path.startswith("/resto/api/collections/")
                    and parts.path.endswith("/search.json")):
                self.record(query, 404)
                return self.send(404, json.dumps({"detail": "not found"}))
            if state.fail_code and n <= state.fail_count:
                self.record(query, state.fail_code)
                headers = []
                if state.args.retry_after is not None:
                    headers.append(("Retry-After", str(state.args.retry_after)))
                return self.send(state.fail_code, json.dumps({"detail": "scripted failure"}),
                                 headers)
            if state.args.malformed:
                self.record(query, 200)
                return self.send(200, '{"type": "FeatureCollection", "features": [{"type": "Feat')
            feats = state.features
            if "startDate" in query:
                s = parse_time(query["startDate"])
                feats = [f for f in feats if parse_time(f["properties"]["startDate"]) >= s]
            if "completionDate" in query:
                e = parse_time(query["completionDate"])
                feats = [f for f in feats if parse_time(f["properties"]["startDate"]) < e]
            per_page = int(query.get("maxRecords", "20"))
            page = int(query.get("page", "1"))
            chunk = feats[(page - 1) * per_page: page * per_page]
            host = "http://%s:%d" % self.server.server_address[:2]
            links = [{"rel": "self", "type": "application/json", "title": "self",
                      "href": host + self.path}]
            if page * per_page < len(feats):
                nq = dict(query)
                nq["page"] = str(page + 1)
                links.append({"rel": "next", "type": "application/json", "title": "next",
                              "href": host + parts.path + "?" + urllib.parse.urlencode(nq)})
            body = {"type": "FeatureCollection",
                    "properties": {"id": "fake", "totalResults": None, "exactCount": 0,
                                   "startIndex": (page - 1) * per_page + 1,
                                   "itemsPerPage": per_page, "links": links},
                    "features": chunk}
            self.record(query, 200)
            return self.send(200, json.dumps(body))

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="saved search.json responses to serve")
    ap.add_argument("--fail")
    ap.add_argument("--retry-after", type=int)
    ap.add_argument("--malformed", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()

    state = State(args)
    server = HTTPServer(("127.0.0.1", 0), make_handler(state))
    print(server.server_address[1], flush=True)
    timer = threading.Timer(args.timeout, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
