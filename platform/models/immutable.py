from django.db import models


class ImmutableModel(models.Model):
    """A row that is written once: history (configs, releases) is append-only."""

    #: Fields that may still change after creation (a release's rollout status).
    mutable_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if not update_fields or not set(update_fields) <= set(self.mutable_fields):
                raise ValueError(f"{type(self).__name__} rows are immutable; create a new one instead")
        super().save(*args, **kwargs)
