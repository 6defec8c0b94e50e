"""Who may see and change what, in one place for selectors and services.

Members see and act on their own workspaces; ``owner`` on all; ``auditor`` reads all;
``template-admin`` manages templates. Everyone signed in may read templates (they pick one
to create a workspace). A workspace the caller may not see does not exist for them (404).
"""

from django.db.models import Q, QuerySet

from oauth import roles
from oauth.models import User
from workspaces.errors import Forbidden
from workspaces.models import Workspace


def can_read_all_workspaces(actor: User) -> bool:
    return roles.has_role(actor, roles.AUDITOR)


def visible_workspaces(actor: User, *, include_deleted: bool = False) -> QuerySet[Workspace]:
    """Live workspaces the actor may see; builds and logs stay readable after a delete."""
    workspaces = Workspace.objects.all() if include_deleted else Workspace.objects.filter(deleted=False)
    return workspaces if can_read_all_workspaces(actor) else workspaces.filter(owner=actor)


def require_workspace_action(actor: User, workspace: Workspace) -> None:
    """Acting on a workspace (builds, commands, files) needs its owner or a site owner."""
    if workspace.owner_id != actor.pk and not roles.has_role(actor, roles.OWNER):
        raise Forbidden("Only the workspace's owner or a site owner may change it.")


def require_template_admin(actor: User) -> None:
    if not roles.has_role(actor, roles.TEMPLATE_ADMIN):
        raise Forbidden("Managing templates needs the template-admin or owner role.")


def first_site_owner() -> User | None:
    """Whom deployment-level chores (the starter template, commands) act as by default."""
    owners = User.objects.filter(Q(is_superuser=True) | Q(groups__name=roles.OWNER), is_active=True)
    return owners.order_by("id").first()
