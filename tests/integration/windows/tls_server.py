#!/usr/bin/env python3
"""An https server for the Windows client's CA-file tests under Wine
(tests/unit/client/http_winhttp_test.cpp, started by wine_env.sh's wine_tls).

    tls_server.py CERT KEY PORT_FILE LOG

Listens on 127.0.0.1 at a free port (written to PORT_FILE when it listens),
answers GET /hello with "hi" and any POST with 204, and appends every request
it receives (request line, headers, body) to LOG, so that a test can show
what reached a server its client should not have trusted.
"""
import http.server
import os
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _log_request(self, body=b""):
        with open(self.server.log_path, "ab") as log:
            log.write(self.requestline.encode() + b"\n" + bytes(self.headers) + body + b"\n--\n")

    def do_GET(self):
        self._log_request()
        body = b"hi" if self.path == "/hello" else b"not here"
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self._log_request(self.rfile.read(length) if length > 0 else b"")
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    cert, key, port_file, log_path = sys.argv[1:5]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.log_path = log_path
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
