"""``manage.py workspaces list``."""

from django.core.management.base import BaseCommand, CommandParser

from workspaces.management.common import command_actor, write_table
from workspaces.selectors import workspace_list_for_user


class Command(BaseCommand):
    help = "List workspaces with their template and status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Act as this user (default: the first owner).")
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="List workspaces the user may see.")
        listing.add_argument("--owner", help="Only this owner's workspaces ('me' for the user's own).")

    def handle(self, *args, action: str, user: str | None, owner: str | None, **options) -> None:
        page = workspace_list_for_user(actor=command_actor(user), owner=owner)
        rows = [("WORKSPACE", "TEMPLATE", "STATUS", "LAST BUILT")]
        for workspace in page.workspaces:
            build = workspace.latest_build
            built = build.created_at.strftime("%Y-%m-%d %H:%M") if build else "-"
            rows.append(
                (f"{workspace.owner.username}/{workspace.name}", workspace.template.name, workspace.status, built)
            )
        write_table(self.stdout, rows)
