"""Every domain object in Django's admin at /admin/: the console from day one."""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm

from paas.platform import models
from paas.platform.actions.login_throttle import ThrottledLoginFormMixin


class AdminLoginForm(ThrottledLoginFormMixin, AdminAuthenticationForm):
    """Admin's login, behind the same login throttle as paas login: a locked account is a form error."""


admin.site.login_form = AdminLoginForm


@admin.register(models.App)
class AppAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "team", "stack", "maintenance", "created_at")
    list_filter = ("stack", "maintenance")
    search_fields = ("name", "owner__username")


@admin.register(models.Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("app", "version", "summary", "status", "created_by", "created_at")
    list_filter = ("status",)
    search_fields = ("app__name", "summary")
    # History is append-only: the admin may look, never rewrite.
    readonly_fields = [f.name for f in models.Release._meta.fields if f.name not in models.Release.mutable_fields]


@admin.register(models.Config)
class ConfigAdmin(admin.ModelAdmin):
    list_display = ("app", "id", "created_by", "created_at")
    search_fields = ("app__name",)
    readonly_fields = ("app", "values", "created_by", "created_at")


@admin.register(models.Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ("app", "uuid", "status", "commit", "buildpack", "created_at")
    list_filter = ("status",)
    search_fields = ("app__name", "commit")


@admin.register(models.Formation)
class FormationAdmin(admin.ModelAdmin):
    list_display = ("app", "process_type", "quantity", "size")


@admin.register(models.Canary)
class CanaryAdmin(admin.ModelAdmin):
    list_display = ("app", "release", "percent", "created_at")


@admin.register(models.Autoscale)
class AutoscaleAdmin(admin.ModelAdmin):
    list_display = ("app", "process_type", "min_quantity", "max_quantity", "target_rps", "target_p95_ms",
                    "last_scaled_at")


@admin.register(models.Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("name", "app", "process_type", "number", "state", "host", "restarts")
    list_filter = ("state", "desired_state")
    search_fields = ("name", "app__name")


@admin.register(models.Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ("name", "address", "state", "memory_mb", "cpus", "last_heartbeat")
    list_filter = ("state",)


@admin.register(models.Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ("hostname", "app", "verified_at", "verified_by", "created_at")
    search_fields = ("hostname", "app__name")


class MembershipInline(admin.TabularInline):
    model = models.TeamMembership
    extra = 0


@admin.register(models.Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    inlines = [MembershipInline]


@admin.register(models.Collaborator)
class CollaboratorAdmin(admin.ModelAdmin):
    list_display = ("app", "user", "created_at")


@admin.register(models.APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "description", "scopes", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")


@admin.register(models.Event)
class EventAdmin(admin.ModelAdmin):
    """The audit log, read-only. A run's command is left out: it is for the app's members
    (api/events.py), and being a platform admin does not make one a member."""

    list_display = ("created_at", "app_name", "app_pk", "actor_name", "action", "message")
    list_filter = ("action",)
    search_fields = ("app_name", "actor_name", "message")
    fields = readonly_fields = ["created_at", "app", "app_name", "app_pk", "actor", "actor_name", "action", "message",
                                "shown_data"]

    @admin.display(description="data")
    def shown_data(self, event):
        return event.public_data()

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
