from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person. Site roles are groups named after Coder's roles (see ``oauth.roles``);
    ``is_active`` false means Coder's ``suspended`` status."""

    name = models.CharField(max_length=150, blank=True, help_text="Display name.")
    last_seen_at = models.DateTimeField(null=True, blank=True)

    @property
    def status(self) -> str:
        return "active" if self.is_active else "suspended"

    @property
    def display_name(self) -> str:
        return self.name or self.username
