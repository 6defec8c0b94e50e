"""``manage.py createtoken``: prints only the token, so ``TOKEN=$(manage.py createtoken alice)`` works."""

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from oauth.models import APIKey
from tests.helpers import ROOT, clean_env


def createtoken(*args: str) -> str:
    out = io.StringIO()
    call_command("createtoken", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_prints_only_a_working_token(member):
    output = createtoken(member.username, "--name", "ci", "--lifetime", "12h")
    raw = output.strip()
    assert output == raw + "\n" and len(raw) == 33
    key = APIKey.objects.get(name="ci")
    assert key.user == member and key.lifetime_seconds == 12 * 3600
    assert Client(headers={"Coder-Session-Token": raw}).get("/api/v2/users/me").json()["username"] == "mike"


@pytest.mark.django_db
def test_defaults_to_a_generated_name_and_thirty_days(member):
    createtoken(member.username)
    key = APIKey.objects.get(user=member)
    assert key.name.startswith("token-") and key.lifetime_seconds == 30 * 86400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user named 'nobody'"),
        (["mike", "--lifetime", "soon"], "--lifetime"),
        (["mike", "--lifetime", "400d"], "at most 365d"),
        (["mike", "--name", "bad name"], "letters and digits"),
    ],
)
def test_errors_are_one_clear_line(member, args, message):
    with pytest.raises(CommandError, match=message):
        createtoken(*args)
    assert not APIKey.objects.exists()


@pytest.mark.django_db
def test_a_second_token_with_the_same_name_is_refused(member):
    createtoken(member.username, "--name", "ci")
    with pytest.raises(CommandError, match="already exists"):
        createtoken(member.username, "--name", "ci")


@pytest.mark.slow
def test_shell_capture_works(tmp_path):
    env = clean_env(CODER_DATA_DIR=str(tmp_path))
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "shell", "-c", "from oauth.models import User; User.objects.create_user('alice')"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    script = f'TOKEN=$("{python}" manage.py createtoken alice --name shell) && printf "%s" "$TOKEN"'
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert len(result.stdout) == 33 and result.stdout[10] == "-", result.stdout
