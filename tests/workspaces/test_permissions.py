"""Who sees and acts on which workspace: the cast, with the stranger's 404."""

import pytest

from workspaces import selectors
from workspaces.errors import Forbidden, NotFound
from workspaces.services import workspace_build_create, workspace_create


@pytest.fixture
def workspace(member, starter):
    return workspace_create(actor=member, owner="me", template_id=starter.id, name="dev")


def test_member_sees_own_workspace_by_every_reference(member, workspace):
    for ref in (workspace.id, str(workspace.id), "dev", "mike/dev", "mike--dev", "dev.main", "me/dev"):
        assert selectors.workspace_get(actor=member, ref=ref).id == workspace.id
    page = selectors.workspace_list_for_user(actor=member)
    assert page.count == 1 and page.workspaces[0].id == workspace.id


def test_stranger_gets_not_found_everywhere(stranger, workspace):
    for ref in (workspace.id, "mike/dev"):
        with pytest.raises(NotFound):
            selectors.workspace_get(actor=stranger, ref=ref)
    with pytest.raises(NotFound):
        selectors.build_get(actor=stranger, build_id=workspace.latest_build.id)
    with pytest.raises(NotFound):
        selectors.build_logs(actor=stranger, build_id=workspace.latest_build.id)
    with pytest.raises(NotFound):
        workspace_build_create(actor=stranger, workspace=workspace.id, transition="stop")
    assert selectors.workspace_list_for_user(actor=stranger, owner="mike").count == 0
    assert selectors.workspace_list_for_user(actor=stranger, owner=None).count == 0


def test_auditor_reads_all_but_cannot_act(auditor, workspace):
    assert selectors.workspace_get(actor=auditor, ref="mike/dev").id == workspace.id
    assert selectors.workspace_list_for_user(actor=auditor, owner=None).count == 1
    with pytest.raises(Forbidden):
        workspace_build_create(actor=auditor, workspace=workspace.id, transition="stop")


def test_owner_acts_on_all_and_creates_for_others(owner, member, stranger, workspace, starter):
    assert selectors.workspace_list_for_user(actor=owner, owner="mike", name="de").count == 1
    assert selectors.workspace_list_for_user(actor=owner, owner="mike", name="zz").count == 0
    for_sam = workspace_create(actor=owner, owner="sam", template_id=starter.id, name="dev")
    assert for_sam.owner == stranger
    with pytest.raises(Forbidden):
        workspace_create(actor=member, owner="sam", template_id=starter.id, name="other")
    page = selectors.workspace_list_for_user(actor=owner, owner=None, limit=1, offset=1)
    assert page.count == 2 and [w.owner.username for w in page.workspaces] == ["sam"]
