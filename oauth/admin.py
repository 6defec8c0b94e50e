from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from oauth.models import User
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
        self.message_user(request, f"Suspended {count} user(s).", messages.SUCCESS)

    @admin.action(description="Reactivate selected users")
    def activate(self, request, queryset):
        count = queryset.update(is_active=True)
        self.message_user(request, f"Reactivated {count} user(s).", messages.SUCCESS)
