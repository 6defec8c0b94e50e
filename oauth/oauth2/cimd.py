"""Client ID Metadata Documents: DOT's SSRF-hardened fetcher, plus our client rules."""

from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher

from oauth.oauth2 import policy


class MetadataFetcher(SafeMetadataFetcher):
    """Fetch as DOT does (https only, public addresses, no redirects, size and time
    caps), then hold the document to the rules dynamic registration follows."""

    def fetch(self, client_id: str) -> tuple[dict, int]:
        metadata, max_age = self.fetch_document(client_id)
        return checked_document(metadata), max_age

    def fetch_document(self, client_id: str) -> tuple[dict, int]:
        return super().fetch(client_id)


def checked_document(metadata: dict) -> dict:
    try:
        return policy.check_client_metadata({"token_endpoint_auth_method": "none", **metadata})
    except policy.PolicyError as exc:
        raise CIMDError(str(exc)) from None
