"""``template.toml``: what a template version declares, parsed and checked in one place.

A template version is a tar archive with ``template.toml`` at its root::

    display_name = "Shell"
    description = "A plain shell workspace"
    icon = "/icon/terminal.svg"
    home = "home"                 # archive directory laid into the workspace home (first start)
    build_script = ""             # runs at each start on the provisioner; failing fails the build
    startup_script = "echo hi"    # runs in the workspace once started; its output is the agent log
    startup_script_timeout = 300  # seconds

    [env]
    EDITOR = "vi"

    [runtime]                     # how the workspace's agent starts (docs/workspace-agents.md)
    kind = "command"              # or "local" (the default): a child process of the server
    launch = "docker run -d --rm --name coder-{workspace_id} agent-image --url {url} --token {token}"
    stop = "docker stop coder-{workspace_id}"
    delete = ""

    [[parameters]]
    name = "region"
    type = "string"               # string | number | bool | list(string)
    default = "eu"                # no default means required
    mutable = false
    options = [{ name = "Europe", value = "eu" }, { name = "US", value = "us" }]
    validation = { regex = "^[a-z]+$", error = "lower-case letters only" }

Errors name the line (TOML syntax) or the field (``parameters[0].type``) so the author can
fix exactly that. Runtime commands take placeholders (``RUNTIME_PLACEHOLDERS``), substituted
shell-quoted; literal braces are doubled (``${{HOME}}``). Parameter values are strings, as in
Coder's API; ``parameter_value_error`` checks one against its declaration.
"""

import io
import json
import re
import shlex
import string
import tarfile
import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

MANIFEST_NAME = "template.toml"
PARAMETER_TYPES = ("string", "number", "bool", "list(string)")
NAME_RE = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$", re.IGNORECASE)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ARCHIVE_BYTES = 50 * 1024 * 1024
RUNTIME_KINDS = ("local", "command")
RUNTIME_PLACEHOLDERS = ("url", "token", "workspace_id", "workspace_name", "owner", "agent_id")


class ManifestError(ValueError):
    """An invalid template: ``field`` is the manifest key at fault (or ``None`` for syntax)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{MANIFEST_NAME}: {field}: {message}" if field else f"{MANIFEST_NAME}: {message}")


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    display_name: str = ""
    description: str = ""
    type: str = "string"
    default_value: str = ""
    mutable: bool = True
    required: bool = False
    options: list[dict[str, str]] = field(default_factory=list)
    validation_regex: str = ""
    validation_min: float | None = None
    validation_max: float | None = None
    validation_error: str = ""


@dataclass(frozen=True)
class RuntimeSpec:
    """How the agent starts: ``local`` (a child of the server) or ``command`` (the template's own)."""

    kind: str = "local"
    launch: str = ""
    stop: str = ""
    delete: str = ""


@dataclass(frozen=True)
class Manifest:
    display_name: str = ""
    description: str = ""
    icon: str = ""
    home: str = "home"
    build_script: str = ""
    startup_script: str = ""
    startup_script_timeout: int = 300
    env: dict[str, str] = field(default_factory=dict)
    parameters: list[ParameterSpec] = field(default_factory=list)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        params = [ParameterSpec(**p) for p in data.get("parameters", [])]
        runtime = RuntimeSpec(**data.get("runtime", {}))  # versions imported before runtimes: local
        return cls(**{**data, "parameters": params, "runtime": runtime})


_TOP_KEYS = {
    "display_name": str,
    "description": str,
    "icon": str,
    "home": str,
    "build_script": str,
    "startup_script": str,
    "startup_script_timeout": int,
    "env": dict,
    "parameters": list,
    "runtime": dict,
}
_PARAM_KEYS = {
    "name",
    "display_name",
    "description",
    "type",
    "default",
    "mutable",
    "required",
    "options",
    "validation",
}
_TYPE_NAMES = {str: "a string", int: "an integer", dict: "a table", list: "an array", bool: "true or false"}


def _expect(value: Any, kind: type, where: str) -> Any:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ManifestError(f"must be {_TYPE_NAMES[kind]}, got {type(value).__name__}", field=where)
    return value


def _unknown_keys(data: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ManifestError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})", field=where)


def parse_manifest(text: str) -> Manifest:
    """Parse and check ``template.toml``; raises ManifestError with the line or field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"invalid TOML: {exc}") from None
    _unknown_keys(data, set(_TOP_KEYS), "(top level)")
    for key, kind in _TOP_KEYS.items():
        if key in data:
            _expect(data[key], kind, key)
    timeout = data.get("startup_script_timeout", 300)
    if not 1 <= timeout <= 3600:
        raise ManifestError("must be between 1 and 3600 seconds", field="startup_script_timeout")
    home = data.get("home", "home")
    if home.startswith("/") or ".." in home.split("/"):
        raise ManifestError("must be a relative directory inside the archive", field="home")
    env = data.get("env", {})
    for name, value in env.items():
        if not ENV_NAME_RE.match(name):
            raise ManifestError("not a valid environment variable name", field=f"env.{name}")
        _expect(value, str, f"env.{name}")
    parameters = [_parse_parameter(p, f"parameters[{i}]") for i, p in enumerate(data.get("parameters", []))]
    names = [p.name for p in parameters]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ManifestError(f"duplicate parameter name {name!r}", field=f"parameters[{index}].name")
    return Manifest(
        display_name=data.get("display_name", ""),
        description=data.get("description", ""),
        icon=data.get("icon", ""),
        home=home.strip("/") or "home",
        build_script=data.get("build_script", ""),
        startup_script=data.get("startup_script", ""),
        startup_script_timeout=timeout,
        env=env,
        parameters=parameters,
        runtime=_parse_runtime(data.get("runtime", {})),
    )


def _parse_runtime(raw: dict) -> RuntimeSpec:
    _unknown_keys(raw, {"kind", "launch", "stop", "delete"}, "runtime")
    kind = _expect(raw.get("kind", "local"), str, "runtime.kind")
    if kind not in RUNTIME_KINDS:
        raise ManifestError(f"must be one of {', '.join(RUNTIME_KINDS)}, got {kind!r}", field="runtime.kind")
    commands = {key: _expect(raw.get(key, ""), str, f"runtime.{key}") for key in ("launch", "stop", "delete")}
    if kind == "local":
        given = next((key for key, value in commands.items() if value), None)
        if given:
            raise ManifestError("only the command runtime takes commands", field=f"runtime.{given}")
    elif not commands["launch"].strip():
        raise ManifestError("required: the command that starts the agent and returns", field="runtime.launch")
    for key, command in commands.items():
        # The token exists only while a start build launches the agent.
        allowed = RUNTIME_PLACEHOLDERS if key == "launch" else tuple(p for p in RUNTIME_PLACEHOLDERS if p != "token")
        _placeholders(command, allowed, f"runtime.{key}")
    return RuntimeSpec(kind=kind, **commands)


def _placeholders(command: str, allowed: tuple[str, ...], where: str) -> list[tuple[str, str | None]]:
    """``(literal, placeholder)`` pairs of a runtime command; ManifestError for anything else in braces."""
    try:
        parsed = list(string.Formatter().parse(command))
    except ValueError as exc:
        raise ManifestError(f"{exc}; write literal braces doubled ({{{{ and }}}})", field=where) from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "token" and name not in allowed:
            raise ManifestError("{token} is only given to launch (the token is revoked at stop)", field=where)
        if name not in allowed:
            raise ManifestError(
                f"unknown placeholder {{{name}}} (known: {', '.join('{' + p + '}' for p in allowed)}); "
                "write literal braces doubled ({{ and }})",
                field=where,
            )
        if spec or conversion:
            raise ManifestError(f"{{{name}}} takes no format spec or conversion", field=where)
    return [(literal, name) for literal, name, _spec, _conversion in parsed]


def render_command(command: str, values: dict[str, str]) -> str:
    """A runtime command with its placeholders replaced by shell-quoted ``values``."""
    parts = _placeholders(command, tuple(values), "runtime")
    return "".join(literal + (shlex.quote(values[name]) if name is not None else "") for literal, name in parts)


def _parse_parameter(raw: Any, where: str) -> ParameterSpec:
    _expect(raw, dict, where)
    _unknown_keys(raw, _PARAM_KEYS, where)
    name = _expect(raw.get("name", ""), str, f"{where}.name")
    if not NAME_RE.match(name):
        raise ManifestError("required; letters, digits, '-' and '_'", field=f"{where}.name")
    kind = _expect(raw.get("type", "string"), str, f"{where}.type")
    if kind not in PARAMETER_TYPES:
        raise ManifestError(f"must be one of {', '.join(PARAMETER_TYPES)}, got {kind!r}", field=f"{where}.type")
    for key in ("display_name", "description"):
        _expect(raw.get(key, ""), str, f"{where}.{key}")
    mutable = _expect(raw.get("mutable", True), bool, f"{where}.mutable")
    options = [
        _parse_option(o, f"{where}.options[{i}]")
        for i, o in enumerate(_expect(raw.get("options", []), list, f"{where}.options"))
    ]
    validation = _expect(raw.get("validation", {}), dict, f"{where}.validation")
    _unknown_keys(validation, {"regex", "min", "max", "error"}, f"{where}.validation")
    regex = _expect(validation.get("regex", ""), str, f"{where}.validation.regex")
    if regex:
        if kind != "string":
            raise ManifestError("only string parameters take a regex", field=f"{where}.validation.regex")
        try:
            re.compile(regex)
        except re.error as exc:
            raise ManifestError(f"invalid regular expression: {exc}", field=f"{where}.validation.regex") from None
    bounds = {}
    for key in ("min", "max"):
        if key in validation:
            value = validation[key]
            if kind != "number" or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ManifestError("a number, and only on number parameters", field=f"{where}.validation.{key}")
            bounds[key] = float(value)
    has_default = "default" in raw
    default = _default_text(raw.get("default"), kind, f"{where}.default") if has_default else ""
    required = _expect(raw.get("required", not has_default), bool, f"{where}.required")
    if not required and not has_default and kind in ("number", "bool"):
        raise ManifestError("an optional number or bool parameter needs a default", field=f"{where}.default")
    spec = ParameterSpec(
        name=name,
        display_name=raw.get("display_name", ""),
        description=raw.get("description", ""),
        type=kind,
        default_value=default,
        mutable=mutable,
        required=required,
        options=options,
        validation_regex=regex,
        validation_min=bounds.get("min"),
        validation_max=bounds.get("max"),
        validation_error=_expect(validation.get("error", ""), str, f"{where}.validation.error"),
    )
    if has_default:
        problem = parameter_value_error(spec, default)
        if problem:
            raise ManifestError(f"the default is invalid: {problem}", field=f"{where}.default")
    return spec


def _parse_option(raw: Any, where: str) -> dict[str, str]:
    _expect(raw, dict, where)
    _unknown_keys(raw, {"name", "value", "description"}, where)
    if "value" not in raw:
        raise ManifestError("required", field=f"{where}.value")
    value = raw["value"]
    text = _expect(value, str, f"{where}.value")
    return {
        "name": _expect(raw.get("name", text), str, f"{where}.name"),
        "value": text,
        "description": _expect(raw.get("description", ""), str, f"{where}.description"),
    }


def _default_text(value: Any, kind: str, where: str) -> str:
    """TOML gives typed defaults; Coder stores every value as a string."""
    if kind == "bool":
        return "true" if _expect(value, bool, where) else "false"
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ManifestError("must be a number", field=where)
        return str(value)
    if kind == "list(string)":
        items = _expect(value, list, where)
        if not all(isinstance(item, str) for item in items):
            raise ManifestError("must be an array of strings", field=where)
        return json.dumps(items)
    return _expect(value, str, where)


def parameter_value_error(spec: Any, value: Any) -> str | None:
    """Why ``value`` does not fit the parameter (a ParameterSpec or a parameter row), or None."""
    if not isinstance(value, str):
        return "must be given as a string"
    custom = spec.validation_error
    if spec.type == "bool":
        if value not in ("true", "false"):
            return "must be 'true' or 'false'"
    elif spec.type == "number":
        try:
            number = float(value)
        except ValueError:
            return f"must be a number, got {value!r}"
        if spec.validation_min is not None and number < spec.validation_min:
            return custom or f"must be at least {spec.validation_min:g}"
        if spec.validation_max is not None and number > spec.validation_max:
            return custom or f"must be at most {spec.validation_max:g}"
    elif spec.type == "list(string)":
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            return 'must be a JSON array of strings, e.g. ["a", "b"]'
        allowed = {option["value"] for option in spec.options}
        if allowed and not set(items) <= allowed:
            return f"each item must be one of {', '.join(sorted(allowed))}"
        return None
    elif spec.validation_regex and not re.search(spec.validation_regex, value):
        return custom or f"must match {spec.validation_regex}"
    allowed = [option["value"] for option in spec.options]
    if allowed and value not in allowed:
        return f"must be one of {', '.join(allowed)}"
    return None


def read_archive_manifest(data: bytes) -> Manifest:
    """The manifest of a tar archive (plain or gzip); raises ManifestError."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ManifestError(f"the archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            member = next((m for m in archive.getmembers() if m.name.lstrip("./") == MANIFEST_NAME), None)
            if member is None or not member.isfile():
                raise ManifestError("missing: put it at the root of the archive")
            text = archive.extractfile(member).read().decode("utf-8")
    except (tarfile.TarError, EOFError, OSError):
        raise ManifestError("the upload is not a tar archive") from None
    except UnicodeDecodeError:
        raise ManifestError("must be UTF-8 text") from None
    return parse_manifest(text)


def archive_problems(data: bytes) -> list[str]:
    """Members that could escape the workspace when laid in: absolute, ``..``, links, devices."""
    problems = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts:
                problems.append(f"{member.name}: the path leaves the template")
            elif member.islnk() or (
                member.issym() and (member.linkname.startswith("/") or ".." in member.linkname.split("/"))
            ):
                problems.append(f"{member.name}: a link pointing outside the template")
            elif not (member.isfile() or member.isdir() or member.issym()):
                problems.append(f"{member.name}: only files, directories and relative symlinks are allowed")
    return problems


def archive_from_files(files: dict[str, bytes | str]) -> bytes:
    """A tar archive of ``{path: content}`` (what ``coder_upload_tar_file`` and ``templates push`` send)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, content in sorted(files.items()):
            payload = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(payload)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()
