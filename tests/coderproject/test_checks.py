from django.core import checks


def errors_ids() -> set[str]:
    return {message.id for message in checks.run_checks(tags=[checks.Tags.security])}


def test_debug_mode_allows_development_defaults(settings):
    settings.DEBUG = True
    assert not errors_ids() & {"coder.E001", "coder.E002"}


def test_generated_key_refused_without_debug(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = True
    settings.CODER_ACCESS_URL = "https://coder.example.com"
    assert "coder.E001" in errors_ids()


def test_plain_http_access_url_refused_without_debug(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = False
    settings.CODER_ACCESS_URL = "http://coder.example.com"
    found = errors_ids()
    assert "coder.E002" in found
    assert "coder.E001" not in found


def test_safe_production_settings_pass(settings):
    settings.DEBUG = False
    settings.SECRET_KEY_GENERATED = False
    settings.CODER_ACCESS_URL = "https://coder.example.com"
    assert not errors_ids() & {"coder.E001", "coder.E002"}
