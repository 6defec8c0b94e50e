"""``manage.py provisionerd``: run provisioner workers outside the server process."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from workspaces.provisioner import (
    jobs_fail_stale,
    run_next_job,
    start_embedded_provisioners,
    stop_embedded_provisioners,
)


class Command(BaseCommand):
    help = "Run provisioner workers that claim and run template imports and workspace builds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workers", type=int, default=settings.CODER_PROVISIONER_DAEMONS or 1)
        parser.add_argument(
            "--exit-when-idle", action="store_true", help="Run the queued jobs in this thread, then exit."
        )

    def handle(self, *args, workers: int, exit_when_idle: bool, **options) -> None:
        if exit_when_idle:
            jobs_fail_stale()
            count = 0
            while run_next_job(worker_id="provisionerd:once"):
                count += 1
            self.stdout.write(f"Ran {count} job(s).")
            return
        stopping = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.set())
        start_embedded_provisioners(max(workers, 1))
        self.stdout.write(f"Provisioner daemon running with {max(workers, 1)} worker(s).")
        self.stdout.flush()
        stopping.wait()
        stop_embedded_provisioners()
        self.stdout.write("Provisioner daemon stopped.")
