from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from oauth.models import APIKey, User
from oauth.revocation import credentials_changed
from oauth.roles import user_roles


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "name", "roles", "status", "last_seen_at", "date_joined")
    list_filter = ("is_active", "groups", "is_superuser")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Coder", {"fields": ("name", "last_seen_at")}),
    )
    readonly_fields = ("last_seen_at",)
    actions = ("suspend", "activate")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        return ", ".join(sorted(user_roles(user)))

    @admin.display(description="Status")
    def status(self, user: User) -> str:
        return user.status

    @admin.action(description="Suspend selected users")
    def suspend(self, request, queryset):
        count = queryset.exclude(pk=request.user.pk).update(is_active=False)
        credentials_changed()  # update() sends no signal: cached acceptances must go now
        self.message_user(request, f"Suspended {count} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users")
    def activate(self, request, queryset):
        count = queryset.update(is_active=True)
        self.message_user(request, f"Reactivated {count} user(s).", messages.SUCCESS)


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Tokens are made by their users (Settings > Tokens, the API, ``createtoken``); the
    admin can see and delete them. Only the id is shown; the hash is never displayed or
    searchable."""

    list_display = ("masked", "name", "user", "login_type", "scope", "created_at", "last_used", "expires_at", "status")
    list_filter = ("login_type",)
    list_select_related = ("user",)
    search_fields = ("name", "user__username")
    raw_id_fields = ("user",)
    fields = (
        "masked",
        "name",
        "user",
        "login_type",
        "scope",
        "lifetime_seconds",
        "created_at",
        "last_used",
        "expires_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
