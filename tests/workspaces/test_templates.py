"""Template manifests, versions and templates: clear errors with the field or line at fault."""

import pytest

from tests.workspaces.conftest import push_template, run_jobs
from workspaces import provisioner, selectors
from workspaces.errors import Conflict, Forbidden, InvalidInput
from workspaces.manifest import (
    Manifest,
    ManifestError,
    RuntimeSpec,
    archive_from_files,
    parameter_value_error,
    parse_manifest,
    render_command,
)
from workspaces.services import (
    file_upload,
    template_create,
    template_delete,
    template_update_active_version,
    template_version_create,
    workspace_create,
)


def test_manifest_parses_every_field():
    manifest = parse_manifest(
        """
display_name = "Go"
description = "Go toolchain"
icon = "/icon/go.svg"
startup_script = "go version"
startup_script_timeout = 60

[env]
GOPATH = "/go"

[[parameters]]
name = "tags"
type = "list(string)"
default = ["a"]
options = [{ value = "a" }, { value = "b", name = "Bee" }]

[[parameters]]
name = "debug"
type = "bool"
default = false
"""
    )
    assert manifest.display_name == "Go" and manifest.env == {"GOPATH": "/go"}
    tags, debug = manifest.parameters
    assert tags.default_value == '["a"]' and not tags.required
    assert tags.options[1] == {"name": "Bee", "value": "b", "description": ""}
    assert debug.default_value == "false" and debug.type == "bool"
    assert parameter_value_error(tags, '["a", "b"]') is None
    assert "each item must be one of a, b" in parameter_value_error(tags, '["c"]')
    assert parameter_value_error(debug, "yes") == "must be 'true' or 'false'"


def test_runtime_commands_take_shell_quoted_placeholders():
    manifest = parse_manifest(
        """
[runtime]
kind = "command"
launch = "docker run -d --name coder-{agent_id} img --url {url} --token {token} && echo ${{HOME}}"
stop = "docker stop coder-{agent_id}"
"""
    )
    assert manifest.runtime.kind == "command" and manifest.runtime.delete == ""
    assert Manifest.from_json(manifest.as_json()) == manifest
    values = {
        "url": "http://h:1",
        "token": "t",
        "agent_id": "a b",
        "workspace_id": "",
        "workspace_name": "",
        "owner": "",
    }
    assert render_command(manifest.runtime.launch, values) == (
        "docker run -d --name coder-'a b' img --url http://h:1 --token t && echo ${HOME}"
    )
    assert render_command("echo {owner}", {"owner": "x'; rm -rf /"}) == "echo 'x'\"'\"'; rm -rf /'"
    # A version imported before runtimes existed keeps the local runtime.
    legacy = parse_manifest("").as_json()
    del legacy["runtime"]
    assert Manifest.from_json(legacy).runtime == RuntimeSpec(kind="local")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('display_name = "x"\nicon = \n', "invalid TOML: Invalid value (at line 2, column 8)"),
        ("[[parameters]]\nname = 'a'\ntype = 'float'", "parameters[0].type: must be one of string, number"),
        ("colour = 'red'", "(top level): unknown key 'colour'"),
        ("[[parameters]]\nname = 'n'\ntype = 'number'\ndefault = 'ten'", "parameters[0].default: must be a number"),
        ("[[parameters]]\nname = 'a'\n[[parameters]]\nname = 'a'", "parameters[1].name: duplicate parameter name"),
        ("[[parameters]]\nname = 's'\ndefault = 'x'\nvalidation = { regex = '^[0-9]+$' }", "the default is invalid"),
        ("home = '../etc'", "home: must be a relative directory"),
        ("[env]\n'1BAD' = 'x'", "env.1BAD: not a valid environment variable name"),
        ("[runtime]\nkind = 'docker'", "runtime.kind: must be one of local, command, got 'docker'"),
        ("[runtime]\nkind = 'command'", "runtime.launch: required: the command that starts the agent"),
        ("[runtime]\nlaunch = 'ssh h agent'", "runtime.launch: only the command runtime takes commands"),
        (
            "[runtime]\nkind = 'command'\nlaunch = 'run {tokn}'",
            "runtime.launch: unknown placeholder {tokn} (known: {url}",
        ),
        ("[runtime]\nkind = 'command'\nlaunch = 'echo ${HOME}'", "runtime.launch: unknown placeholder {HOME}"),
        (
            "[runtime]\nkind = 'command'\nlaunch = 'a'\nstop = 'b {token}'",
            "runtime.stop: {token} is only given to launch",
        ),
        ("[runtime]\nkind = 'command'\nlaunch = 'a {url!r}'", "runtime.launch: {url} takes no format spec"),
        ("[runtime]\nkind = 'command'\nlaunch = 'a }'", "runtime.launch: Single '}' encountered"),
    ],
)
def test_manifest_errors_name_the_line_or_field(text, expected):
    with pytest.raises(ManifestError) as error:
        parse_manifest(text)
    assert expected in str(error.value) and str(error.value).startswith("template.toml: ")


def test_invalid_manifest_is_refused_when_the_version_is_created(owner):
    upload = file_upload(actor=owner, data=archive_from_files({"template.toml": "[[parameters]]\ntype = 'string'"}))
    with pytest.raises(InvalidInput) as refused:
        template_version_create(actor=owner, file_id=upload.id)
    assert refused.value.field == "file_id"
    assert refused.value.message == "template.toml: parameters[0].name: required; letters, digits, '-' and '_'"
    not_tar = file_upload(actor=owner, data=b"just some text")
    with pytest.raises(InvalidInput, match="not a tar archive"):
        template_version_create(actor=owner, file_id=not_tar.id)


def test_unsafe_archive_fails_the_import_job_with_a_log_line(owner):
    upload = file_upload(actor=owner, data=archive_from_files({"template.toml": "", "home/../../escape": "x"}))
    version = template_version_create(actor=owner, file_id=upload.id)
    assert version.job.status == "pending"
    assert run_jobs() == 1
    version = selectors.template_version_get(actor=owner, version_id=version.id)
    assert version.job.status == "failed" and "unsafe member" in version.job.error
    lines = [(line.level, line.output) for line in selectors.template_version_logs(actor=owner, version_id=version.id)]
    assert ("error", "home/../../escape: the path leaves the template") in lines
    with pytest.raises(InvalidInput) as refused:
        template_create(actor=owner, name="unsafe", display_name="", description="", version_id=version.id)
    assert refused.value.field == "version_id" and "failed to import" in refused.value.message


def test_import_logs_what_it_found_and_stores_parameters(owner):
    manifest = "[[parameters]]\nname = 'size'\ntype = 'number'\ndefault = 3\nmutable = false"
    upload = file_upload(actor=owner, data=archive_from_files({"template.toml": manifest}))
    version = template_version_create(actor=owner, file_id=upload.id)
    with pytest.raises(Conflict, match="still importing"):
        template_create(actor=owner, name="early", display_name="", description="", version_id=version.id)
    provisioner.job_run_now(job_id=version.job_id)
    logs = [line.output for line in selectors.template_version_logs(actor=owner, version_id=version.id)]
    assert "Parameter size (number, default '3', immutable)" in logs
    (size,) = selectors.template_version_parameters(actor=owner, version_id=version.id)
    assert (size.name, size.type, size.default_value, size.mutable, size.required) == (
        "size",
        "number",
        "3",
        False,
        False,
    )


def test_template_admin_manages_templates_members_do_not(template_admin, member):
    data = archive_from_files({"template.toml": "display_name = 'T'"})
    with pytest.raises(Forbidden):
        file_upload(actor=member, data=data)
    template = push_template(template_admin, "team", "display_name = 'Team'")
    assert template.display_name == "Team" and template.created_by == template_admin
    assert [t.name for t in selectors.template_list(actor=member)] == ["team"]
    with pytest.raises(Forbidden):
        template_delete(actor=member, template_id=template.id)
    with pytest.raises(InvalidInput) as clash:
        push_template(template_admin, "team", "")
    assert clash.value.field == "name"


def test_update_active_version_and_delete_refused_while_used(owner, member):
    template = push_template(owner, "evolving", "display_name = 'One'")
    upload = file_upload(actor=owner, data=archive_from_files({"template.toml": "display_name = 'Two'"}))
    second = template_version_create(actor=owner, file_id=upload.id, template_id=template.id)
    provisioner.job_run_now(job_id=second.job_id)
    template = template_update_active_version(actor=owner, template_id=template.id, version_id=second.id)
    assert template.active_version_id == second.id
    workspace = workspace_create(actor=member, owner="me", template_id=template.id, name="w")
    with pytest.raises(Conflict, match="used by 1 workspace"):
        template_delete(actor=owner, template_id=template.id)
    run_jobs()
    from workspaces.services import workspace_build_create

    workspace_build_create(actor=member, workspace=workspace, transition="delete")
    run_jobs()
    template_delete(actor=owner, template_id=template.id)
    assert selectors.template_list(actor=owner) == []
