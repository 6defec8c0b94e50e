"""Provisioner workers: they claim jobs (template imports, workspace builds) from the database
and run them, writing logs as rows so any process can follow any job.

The server runs a few embedded workers as threads (``start_embedded_provisioners``);
``manage.py provisionerd`` runs them in a process of its own. On PostgreSQL a job is
claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``; elsewhere (SQLite) with a
compare-and-set update of the pending row, which one worker alone can win. A running job
whose worker stopped sending heartbeats is failed after ``CODER_PROVISIONER_STALE_AFTER``.
"""

import asyncio
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from coderproject.observability import BUILD_DURATION
from workspaces.manifest import Manifest, ManifestError, archive_problems, read_archive_manifest, render_command
from workspaces.models import (
    ProvisionerJob,
    ProvisionerJobLog,
    TemplateVersionParameter,
    Workspace,
    WorkspaceAgent,
    WorkspaceAgentLog,
    WorkspaceBuild,
)

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 15
STARTUP_LOG_LIMIT = 1024 * 1024
Status = ProvisionerJob.Status
Lifecycle = WorkspaceAgent.Lifecycle

_wakeup = threading.Event()
_workers: list["Worker"] = []
_workers_lock = threading.Lock()


class JobFailed(Exception):
    """The job cannot succeed; the message becomes the job's error."""


class JobCanceled(Exception):
    """Someone canceled the job while it ran."""


def notify_job_queued() -> None:
    """Wake this process's idle workers (others notice on their next poll)."""
    _wakeup.set()


# ---------------------------------------------------------------------------
# Claiming and finishing jobs
# ---------------------------------------------------------------------------


def job_claim(*, worker_id: str, job_id: uuid.UUID | None = None) -> ProvisionerJob | None:
    """Take the oldest pending job (or the given one) for ``worker_id``; None when there is none."""
    now = timezone.now()
    pending = ProvisionerJob.objects.filter(status=Status.PENDING)
    if job_id is not None:
        pending = pending.filter(id=job_id)
    claim = {"status": Status.RUNNING, "worker_id": worker_id, "started_at": now, "heartbeat_at": now}
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            job = pending.order_by("created_at").select_for_update(skip_locked=True).first()
            if job is None:
                return None
            ProvisionerJob.objects.filter(id=job.id).update(**claim)
    else:
        for candidate in pending.order_by("created_at").values_list("id", flat=True)[:5]:
            if ProvisionerJob.objects.filter(id=candidate, status=Status.PENDING).update(**claim) == 1:
                job = ProvisionerJob(id=candidate)
                break
        else:
            return None
    return ProvisionerJob.objects.get(id=job.id)


def _finish(job: ProvisionerJob, status: str, error: str = "") -> bool:
    """Record the outcome unless the job was already finished (e.g. failed as stale).

    A job canceled while it ran ends ``canceled`` whatever its work came to.
    """
    now = timezone.now()
    running = ProvisionerJob.objects.filter(id=job.id)
    if running.filter(status=Status.CANCELING).update(status=Status.CANCELED, error=error, completed_at=now):
        _observe_build(job, Status.CANCELED, now)
        return True
    finished = bool(running.filter(status=Status.RUNNING).update(status=status, error=error, completed_at=now))
    if finished:
        _observe_build(job, status, now)
    return finished


def _observe_build(job: ProvisionerJob, status: str, completed_at: datetime) -> None:
    """Build durations for /metrics, by transition and outcome."""
    if job.type != ProvisionerJob.Type.WORKSPACE_BUILD or job.started_at is None:
        return
    transition = WorkspaceBuild.objects.filter(job_id=job.id).values_list("transition", flat=True).first()
    BUILD_DURATION.labels(transition or "unknown", status).observe((completed_at - job.started_at).total_seconds())


def jobs_fail_stale() -> int:
    """Fail running jobs whose worker stopped sending heartbeats (it died or was killed)."""
    cutoff = timezone.now() - timedelta(seconds=settings.CODER_PROVISIONER_STALE_AFTER)
    active = (Status.RUNNING, Status.CANCELING)
    stale = list(ProvisionerJob.objects.filter(status__in=active, heartbeat_at__lt=cutoff))
    for job in stale:
        message = f"The provisioner {job.worker_id or '?'} stopped reporting; the job was failed after a timeout."
        if _finish(job, Status.FAILED, message):
            ProvisionerJobLog.objects.create(job=job, level="error", stage="Cleaning up", output=message)
    return len(stale) + _agents_fail_stale()


def _agents_fail_stale() -> int:
    """Agents still ``starting`` well past their startup timeout lost their worker: start_error."""
    now = timezone.now()
    starting = WorkspaceAgent.objects.filter(lifecycle_state=Lifecycle.STARTING).select_related(
        "build__template_version"
    )
    failed = 0
    for agent in starting:
        timeout = Manifest.from_json(agent.build.template_version.manifest).startup_script_timeout
        if agent.started_at and agent.started_at < now - timedelta(
            seconds=timeout + settings.CODER_PROVISIONER_STALE_AFTER
        ):
            updated = WorkspaceAgent.objects.filter(id=agent.id, lifecycle_state=Lifecycle.STARTING).update(
                lifecycle_state=Lifecycle.START_ERROR
            )
            if updated:
                failed += 1
                WorkspaceAgentLog.objects.create(
                    agent=agent, level="error", output="The startup script stopped reporting; it was given up on."
                )
    return failed


def job_wait_finished(*, job_id: uuid.UUID, timeout_s: float) -> ProvisionerJob:
    deadline = time.monotonic() + timeout_s
    while True:
        job = ProvisionerJob.objects.get(id=job_id)
        if job.is_finished or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def job_run_now(*, job_id: uuid.UUID, timeout_s: float = 120) -> ProvisionerJob:
    """Run a queued job in this thread (or wait for the worker that already claimed it)."""
    job = job_claim(worker_id=f"inline:{socket.gethostname()}:{os.getpid()}", job_id=job_id)
    if job is not None:
        job_run(job)
    return job_wait_finished(job_id=job_id, timeout_s=timeout_s)


def run_next_job(*, worker_id: str) -> bool:
    """Claim and run one job; False when there was nothing to do."""
    job = job_claim(worker_id=worker_id)
    if job is None:
        return False
    job_run(job)
    return True


class _JobLog:
    """Writes a job's log rows and keeps its heartbeat fresh while it runs."""

    def __init__(self, job: ProvisionerJob) -> None:
        self.job = job
        self.stage = ""
        self.beat_at = time.monotonic()
        self.checked_at = 0.0
        self.canceled = False
        self.on_cancel: Callable[[], object] | None = None

    def __call__(self, output: str, *, level: str = "info", stage: str | None = None) -> None:
        if stage is not None:
            self.stage = stage
        ProvisionerJobLog.objects.create(job=self.job, level=level, stage=self.stage, output=output)
        self.heartbeat()

    def heartbeat(self) -> None:
        if time.monotonic() - self.beat_at >= HEARTBEAT_EVERY_S:
            self.beat_at = time.monotonic()
            ProvisionerJob.objects.filter(id=self.job.id).update(heartbeat_at=timezone.now())

    def tick(self) -> None:
        """Called about once a second while the job waits on a process: heartbeat, and
        notice a cancel request (``on_cancel`` then stops the work)."""
        self.heartbeat()
        if self.canceled or time.monotonic() - self.checked_at < 1:
            return
        self.checked_at = time.monotonic()
        if ProvisionerJob.objects.filter(id=self.job.id, status=Status.CANCELING).exists():
            self.canceled = True
            if self.on_cancel is not None:
                self.on_cancel()

    def raise_if_canceled(self) -> None:
        self.checked_at = 0.0
        self.tick()
        if self.canceled:
            raise JobCanceled()


def job_run(job: ProvisionerJob) -> None:
    """Run a claimed job to its end; every failure becomes the job's error, never an exception."""
    log = _JobLog(job)
    after: Callable[[], None] | None = None
    try:
        if job.type == ProvisionerJob.Type.TEMPLATE_VERSION_IMPORT:
            _run_import(job, log)
        else:
            after = _run_build(job, log)
    except JobCanceled:
        log("Canceled", level="warn")
        _finish(job, Status.CANCELED)
        _after_build_failure(job)
        return
    except JobFailed as exc:
        log(str(exc), level="error")
        _finish(job, Status.FAILED, str(exc))
        _after_build_failure(job)
        return
    except Exception as exc:
        logger.exception("provisioner job %s failed", job.id)
        log(f"Internal error: {exc}", level="error")
        _finish(job, Status.FAILED, f"Internal error: {exc}")
        _after_build_failure(job)
        return
    _finish(job, Status.SUCCEEDED)
    if after is not None:
        after()


# ---------------------------------------------------------------------------
# Template version import
# ---------------------------------------------------------------------------


def _run_import(job: ProvisionerJob, log: _JobLog) -> None:
    version = job.template_version
    data = bytes(version.file.data)
    log(f"Reading the archive ({len(data)} bytes)", stage="Parsing template")
    try:
        manifest = read_archive_manifest(data)
    except ManifestError as exc:
        raise JobFailed(str(exc)) from None
    problems = archive_problems(data)
    for problem in problems:
        log(problem, level="error")
    if problems:
        raise JobFailed(f"The archive has {len(problems)} unsafe member(s); first: {problems[0]}")
    log(f"Template: {manifest.display_name or '(no display name)'}", stage="Detecting parameters")
    for spec in manifest.parameters:
        need = "required" if spec.required else f"default {spec.default_value!r}"
        log(f"Parameter {spec.name} ({spec.type}, {need}, {'mutable' if spec.mutable else 'immutable'})")
    log(f"{len(manifest.parameters)} parameter(s), startup script: {'yes' if manifest.startup_script else 'no'}")
    with transaction.atomic():
        version.parameters.all().delete()
        TemplateVersionParameter.objects.bulk_create(
            TemplateVersionParameter(version=version, position=index, **vars(spec))
            for index, spec in enumerate(manifest.parameters)
        )
        version.manifest = manifest.as_json()
        version.save(update_fields=["manifest", "updated_at"])
    log("Import done", stage="Done")


# ---------------------------------------------------------------------------
# Workspace builds
# ---------------------------------------------------------------------------


def _run_build(job: ProvisionerJob, log: _JobLog) -> Callable[[], None] | None:
    from workspaces.runtime import local

    build = WorkspaceBuild.objects.select_related(
        "workspace", "workspace__owner", "template_version", "template_version__file"
    ).get(job=job)
    workspace = build.workspace
    directory = local.workspace_directory(workspace.id)
    log(f"Build {build.build_number}: {build.transition} {workspace}", stage="Planning")
    _shut_down_agents(workspace, log)
    manifest = Manifest.from_json(build.template_version.manifest)
    if build.transition == WorkspaceBuild.Transition.STOP:
        _run_runtime_command(build, "stop", manifest.runtime.stop, log)
        log("Workspace stopped", stage="Done")
        return None
    if build.transition == WorkspaceBuild.Transition.DELETE:
        _run_runtime_command(build, "delete", manifest.runtime.delete, log)
        local.remove_directory(directory)
        Workspace.objects.filter(id=workspace.id).update(deleted=True, updated_at=timezone.now())
        log(f"Removed {directory}", stage="Done")
        return None
    laid = local.lay_in_home(directory=directory, archive=bytes(build.template_version.file.data), home=manifest.home)
    log(f"Home directory {directory}" + (f" created with {laid} template file(s)" if laid else ""), stage="Setting up")
    connection = local.LocalAgentConnection(
        root=directory,
        env=local.build_environment(build),
        workspace_id=str(workspace.id),
        policy=local.process_policy(),
    )
    if problem := connection.sandbox_problem():
        raise JobFailed(problem)
    log.raise_if_canceled()
    if manifest.build_script:
        log("Running the build script", stage="Build script")
        log.on_cancel = lambda: local.kill_workspace_processes(workspace.id)
        result = _run_script(
            connection,
            manifest.build_script,
            timeout_s=manifest.startup_script_timeout,
            on_line=log,
            tick=log.tick,
        )
        log.raise_if_canceled()
        if result.exit_code != 0:
            raise JobFailed(f"The build script exited with code {result.exit_code}.")
    if manifest.runtime.kind != "local" or settings.CODER_AGENT_URL:
        _start_agent(build, manifest, directory, log)
        return None
    # No URL to dial (code run in-process by tests and management commands): the local
    # runtime runs the workspace's commands in this process, through the same host code.
    now = timezone.now()
    agent = WorkspaceAgent.objects.create(
        build=build,
        status=WorkspaceAgent.Status.CONNECTED,
        lifecycle_state=Lifecycle.STARTING if manifest.startup_script else Lifecycle.READY,
        directory=str(directory),
        first_connected_at=now,
        started_at=now,
        ready_at=None if manifest.startup_script else now,
    )
    log(f"Agent {agent.name} connected", stage="Done")
    if not manifest.startup_script:
        return None
    return lambda: _run_startup_script(agent, connection, manifest)


def _start_agent(build: WorkspaceBuild, manifest: Manifest, directory, log: _JobLog) -> None:
    """Issue the build's agent token, start the agent the runtime's way, wait for it to dial in.

    The agent itself then runs the startup script and reports its lifecycle.
    """
    from workspaces import services
    from workspaces.runtime import launch

    if not settings.CODER_AGENT_URL:
        raise JobFailed(
            "The command runtime needs the URL agents dial: set CODER_AGENT_URL (manage.py server sets it from --bind)."
        )
    agent = WorkspaceAgent.objects.create(build=build, directory=str(directory))
    token = services.agent_token_issue(agent=agent)
    log(f"Starting the agent ({manifest.runtime.kind} runtime, dialing {settings.CODER_AGENT_URL})", stage="Agent")
    pid = None  # the local agent's process; a command runtime's agent runs out of our sight
    if manifest.runtime.kind == "local":
        pid = launch.launch_local_agent(url=settings.CODER_AGENT_URL, token=token, directory=directory)
        WorkspaceAgent.objects.filter(id=agent.id).update(process_id=pid)
        agent_log = launch.agent_log_path(directory)
        log(f"Agent process {pid}, logging to {agent_log}")
    else:
        values = launch.runtime_values(build=build, agent=agent, token=token)
        _run_runtime_command(build, "launch", manifest.runtime.launch, log, values=values)

    def where_to_look() -> str:
        if pid is None:
            return " The launch command's output is in the build log above."
        text = launch.log_tail(agent_log)
        return f" The end of its log:\n{text}" if text else " Its log is empty."

    log("Waiting for the agent to connect")
    deadline = time.monotonic() + settings.CODER_AGENT_CONNECT_TIMEOUT
    status = WorkspaceAgent.objects.filter(id=agent.id).values_list("status", flat=True)
    while status.get() != WorkspaceAgent.Status.CONNECTED:
        log.raise_if_canceled()
        if pid is not None and not launch.local_agent_alive(pid=pid, directory=directory):
            raise JobFailed("The agent process exited before connecting." + where_to_look())
        if time.monotonic() > deadline:
            raise JobFailed(
                f"The agent did not connect within {settings.CODER_AGENT_CONNECT_TIMEOUT} s." + where_to_look()
            )
        time.sleep(0.2)
    log(f"Agent {agent.name} connected", stage="Done")


def _run_runtime_command(build: WorkspaceBuild, name: str, command: str, log: _JobLog, *, values=None) -> None:
    """Run the template's launch, stop or delete command on this host; a failure fails the build."""
    from workspaces.runtime import launch, local

    if not command:
        return
    if values is None:
        agent = WorkspaceAgent.objects.filter(build__workspace=build.workspace_id).order_by("-created_at").first()
        values = launch.runtime_values(build=build, agent=agent)
    secret = values.get("token")

    def on_line(line: str, level: str = "info", **_: object) -> None:
        log(line.replace(secret, "********") if secret else line, level=level)

    log(f"Running the runtime's {name} command", stage="Runtime")
    timeout_s = settings.CODER_AGENT_CONNECT_TIMEOUT
    result = _run_script(
        launch.command_connection(directory=local.workspace_directory(build.workspace_id)),
        render_command(command, values),
        timeout_s=timeout_s,
        on_line=on_line,
        tick=log.tick,
    )
    log.raise_if_canceled()
    if result.timed_out:
        raise JobFailed(
            f"The {name} command did not return within {timeout_s} s; it must start or stop the agent "
            "and return (detach it: docker run -d, nohup ... &)."
        )
    if result.exit_code != 0:
        raise JobFailed(f"The {name} command exited with code {result.exit_code}; its output is above.")


def _run_startup_script(agent: WorkspaceAgent, connection, manifest: Manifest) -> None:
    """The agent's startup: its output is the agent log; the outcome is the lifecycle state."""

    def on_line(line: str, level: str = "info", **_: object) -> None:
        WorkspaceAgentLog.objects.create(agent=agent, output=line, level=level)

    try:
        result = _run_script(
            connection, manifest.startup_script, timeout_s=manifest.startup_script_timeout, on_line=on_line
        )
    except Exception as exc:
        logger.exception("startup script of agent %s", agent.id)
        on_line(f"The startup script could not run: {exc}", level="error")
        ok = False
    else:
        ok = result.exit_code == 0
        if not ok:
            on_line(f"The startup script exited with code {result.exit_code}.", level="error")
    WorkspaceAgent.objects.filter(id=agent.id, lifecycle_state=Lifecycle.STARTING).update(
        lifecycle_state=Lifecycle.READY if ok else Lifecycle.START_ERROR, ready_at=timezone.now()
    )


def _run_script(connection, script: str, *, timeout_s: float, on_line: Callable, tick: Callable | None = None):
    """Run a script through the runtime in a helper thread; this thread writes its lines as rows.

    The ORM stays in the calling (worker) thread, which may not run an event loop itself.
    """
    chunks: queue.Queue = queue.Queue()
    done = object()
    outcome: dict = {}

    async def on_output(text: str) -> None:
        chunks.put(text)

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(
                connection.exec(script, timeout_s=timeout_s, output_limit=STARTUP_LOG_LIMIT, on_output=on_output)
            )
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            chunks.put(done)

    threading.Thread(target=run, name="provisioner-script", daemon=True).start()
    pending = ""
    while True:
        try:
            item = chunks.get(timeout=1)
        except queue.Empty:
            item = None
        if tick is not None:
            tick()
        if item is None:
            continue
        if item is done:
            break
        *lines, pending = (pending + item).split("\n")
        for line in lines:
            on_line(line)
    if pending:
        on_line(pending)
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["result"]
    if result.timed_out:
        on_line(f"The script did not finish within {timeout_s:g} s and was killed.", level="error")
    return result


def _shut_down_agents(workspace: Workspace, log: _JobLog) -> None:
    """Stop everything the workspace runs and turn its agents off."""
    from workspaces.runtime import launch, local

    agents = WorkspaceAgent.objects.filter(build__workspace=workspace).exclude(lifecycle_state=Lifecycle.OFF)
    sockets = [channel for channel in agents.values_list("channel_name", flat=True) if channel]
    processes = _local_agent_processes(agents)
    agents.update(lifecycle_state=Lifecycle.SHUTTING_DOWN)
    killed = local.kill_workspace_processes(workspace.id)
    if killed:
        log(f"Stopped {killed} process(es)", stage="Stopping")
    # Remote agents: the token is revoked and the agent told to kill its processes and exit.
    WorkspaceAgent.objects.filter(build__workspace=workspace, lifecycle_state=Lifecycle.SHUTTING_DOWN).update(
        lifecycle_state=Lifecycle.OFF, status=WorkspaceAgent.Status.DISCONNECTED, token_hash="", channel_name=""
    )
    for channel in sockets:
        async_to_sync(get_channel_layer().send)(channel, {"type": "agent.shutdown"})
        log("Told the agent to shut down", stage="Stopping")
    for pid, directory in processes:
        if launch.stop_local_agent(pid=pid, directory=directory):
            log(f"The agent process {pid} did not exit; killed it", level="warn", stage="Stopping")


def _local_agent_processes(agents) -> list[tuple[int, str]]:
    """(pid, directory) of the agents the local runtime started as our children."""
    return [(pid, directory) for pid, directory in agents.values_list("process_id", "directory") if pid]


def _after_build_failure(job: ProvisionerJob) -> None:
    """A failed start leaves no agent claiming to be ready, able to dial in, or running here."""
    from workspaces.runtime import launch

    agents = WorkspaceAgent.objects.filter(build__job=job).exclude(lifecycle_state=Lifecycle.OFF)
    processes = _local_agent_processes(agents)
    agents.update(
        lifecycle_state=Lifecycle.START_ERROR, token_hash="", status=WorkspaceAgent.Status.DISCONNECTED, channel_name=""
    )
    for pid, directory in processes:
        launch.stop_local_agent(pid=pid, directory=directory, grace_s=0)


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------


class Worker(threading.Thread):
    """Claims and runs jobs until stopped; sweeps stale jobs now and then."""

    def __init__(self, name: str, *, poll_s: float = 1.0) -> None:
        super().__init__(name=name, daemon=True)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{name}"
        self.poll_s = poll_s
        self.stopping = threading.Event()

    def run(self) -> None:
        swept_at = 0.0
        while not self.stopping.is_set():
            close_old_connections()
            try:
                if time.monotonic() - swept_at > 30:
                    swept_at = time.monotonic()
                    jobs_fail_stale()
                if run_next_job(worker_id=self.worker_id):
                    continue
            except Exception:
                logger.exception("provisioner worker %s", self.name)
            _wakeup.wait(self.poll_s)
            _wakeup.clear()
        close_old_connections()

    def stop(self) -> None:
        self.stopping.set()
        _wakeup.set()


def start_embedded_provisioners(count: int | None = None) -> list[Worker]:
    """Start this process's workers once (later calls return the running ones)."""
    with _workers_lock:
        if not _workers:
            for index in range(settings.CODER_PROVISIONER_DAEMONS if count is None else count):
                worker = Worker(f"provisioner-{index}")
                worker.start()
                _workers.append(worker)
        return list(_workers)


def stop_embedded_provisioners(timeout_s: float = 10) -> None:
    with _workers_lock:
        for worker in _workers:
            worker.stop()
        for worker in _workers:
            worker.join(timeout_s)
        _workers.clear()


def embedded_provisioners() -> list[Worker]:
    """This process's embedded workers, without starting any (readiness reports them)."""
    with _workers_lock:
        return list(_workers)
