import pytest

from oauth import roles
from oauth.services import user_set_roles
from tests.conftest import make_user


@pytest.mark.django_db
def test_everyone_is_a_member_and_owner_holds_every_role(owner, member):
    assert roles.user_roles(member) == {roles.MEMBER}
    assert roles.has_role(owner, roles.TEMPLATE_ADMIN)
    assert not roles.has_role(member, roles.TEMPLATE_ADMIN)


@pytest.mark.django_db
def test_roles_can_be_combined_and_replaced():
    user = make_user("tess", roles.TEMPLATE_ADMIN, roles.AUDITOR)
    assert roles.user_roles(user) == {roles.MEMBER, roles.TEMPLATE_ADMIN, roles.AUDITOR}
    user_set_roles(user=user, role_names=[roles.USER_ADMIN])
    assert roles.user_roles(user) == {roles.MEMBER, roles.USER_ADMIN}


@pytest.mark.django_db
def test_unknown_role_is_refused(member):
    with pytest.raises(ValueError, match="unknown role"):
        user_set_roles(user=member, role_names=["wizard"])
