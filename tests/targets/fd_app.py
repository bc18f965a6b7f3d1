"""Target: an app that runs short of file descriptors, on command.

    python fd_app.py LIMIT HTTP_PORT

Lowers its RLIMIT_NOFILE (soft) to LIMIT, serves HTTP on 127.0.0.1:HTTP_PORT
(GET / answers "ok", from a thread) and prints "ready".  Then it reads
commands on stdin, one a line, and answers each with one line:
  fill FREE    open /dev/null until no descriptor is left, then close FREE
               of them again: "filled OPEN FREE"
  open N       try to open N more files (closed again at once): "opened K"
  release N    close N of the descriptors fill took: "released K"
  quit         leave
CPython 3.9+, standard library only.
"""

import http.server
import os
import resource
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    limit, port = int(sys.argv[1]), int(sys.argv[2])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    held = []
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "fill":
            while True:
                try:
                    held.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break
            free = int(words[1])
            for _ in range(min(free, len(held))):
                os.close(held.pop())
            print("filled %d %d" % (len(held), free), flush=True)
        elif words[0] == "open":
            got = []
            for _ in range(int(words[1])):
                try:
                    got.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break
            for fd in got:
                os.close(fd)
            print("opened %d" % len(got), flush=True)
        elif words[0] == "release":
            n = min(int(words[1]), len(held))
            for _ in range(n):
                os.close(held.pop())
            print("released %d" % n, flush=True)
        elif words[0] == "quit":
            break
    for fd in held:
        os.close(fd)


if __name__ == "__main__":
    main()
