"""Serve the example project's WSGI app on a port, for tests that need a real server.

``runserver`` is no good here: it checks migrations at start and so refuses to
start while the database is down, which is the case these tests are about.
Usage: python tests/serve.py PORT
"""

import os
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "example_project")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


if __name__ == "__main__":
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", int(sys.argv[1]), get_wsgi_application(),
                         server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    server.serve_forever()
