"""Client ID Metadata Documents for tests: a real HTTP server on loopback, and a fetcher
that reaches it in place of the client's public https host.

The production fetcher (DOT's, SSRF-hardened) refuses loopback by design; what we stand
in for here is only what lies outside the machine: DNS and TLS of the client's host.
Everything after the fetch (our rules, DOT's upsert, the flow) is the real code.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from oauth2_provider.cimd import CIMDError

from oauth.oauth2.cimd import MetadataFetcher
from tests.helpers import serve_http


class LoopbackDocumentFetcher(MetadataFetcher):
    def fetch_document(self, client_id: str) -> tuple[dict, int]:
        response = httpx.get(settings.TEST_CIMD_DOCUMENT_ORIGIN + urlsplit(client_id).path, timeout=5)
        if response.status_code != 200:
            raise CIMDError(f"client_id document returned HTTP {response.status_code}")
        return response.json(), 300


@contextmanager
def document_server(documents: dict[str, dict]) -> Iterator[str]:
    """Serve ``{path: document}`` as JSON on a free loopback port; yields the origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            document = documents.get(self.path)
            body = json.dumps(document).encode() if document is not None else b"{}"
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serve_http(Handler) as origin:
        yield origin


def use_loopback_documents(settings, origin: str) -> None:
    settings.TEST_CIMD_DOCUMENT_ORIGIN = origin
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "CIMD_METADATA_FETCHER": "tests.oauth.cimd_documents.LoopbackDocumentFetcher",
    }
