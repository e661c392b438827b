"""Indexes for the console dashboard's recent deploys and failed builds (bench/console.py: 2,000 releases
sorted per view before; the newest ten are now read from an index's end)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0020_addon_stack"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="release",
            index=models.Index(fields=["created_at"], name="release_created_at"),
        ),
        migrations.AddIndex(
            model_name="build",
            index=models.Index(fields=["status", "created_at"], name="build_status_created_at"),
        ),
    ]
