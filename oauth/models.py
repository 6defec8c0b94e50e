import hashlib
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


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


class APIKey(models.Model):
    """A Coder session token, ``<id>-<secret>``.

    Only the SHA-256 of the secret is stored, so a database leak yields no usable token;
    the id is the primary key so a lookup is one indexed read.
    """

    class LoginType(models.TextChoices):
        PASSWORD = "password"  # noqa: S105 (a name, not a secret)
        TOKEN = "token"  # noqa: S105 (a name, not a secret)
        OAUTH2_PROVIDER_APP = "oauth2_provider_app"

    id = models.CharField(primary_key=True, max_length=10, editable=False)
    hashed_secret = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the secret, hex.")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=64)
    login_type = models.CharField(max_length=32, choices=LoginType.choices, default=LoginType.TOKEN)
    scope = models.CharField(max_length=64, default="all")
    lifetime_seconds = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ("-created_at",)
        constraints = [models.UniqueConstraint(fields=("user", "name"), name="apikey_unique_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def masked(self) -> str:
        """How a key is shown anywhere after creation: its id, never its secret."""
        return f"{self.id}-{'•' * 6}"

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    @property
    def status(self) -> str:
        return "expired" if self.is_expired(timezone.now()) else "active"
