"""Log drains and log alerts (issue 13): an app's lines sent on to the user's syslog, HTTPS or Loki
endpoint; saved searches with a threshold and a webhook."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0010_sleep_frozen"),
    ]

    operations = [
        migrations.CreateModel(
            name="LogDrain",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.CharField(max_length=2048)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("app", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="drains",
                                          to="platform.app")),
            ],
            options={"ordering": ["id"]},
        ),
        migrations.AddConstraint(
            model_name="logdrain",
            constraint=models.UniqueConstraint(fields=("app", "url"), name="drain_once_per_app"),
        ),
        migrations.CreateModel(
            name="LogAlert",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("query", models.CharField(max_length=1000)),
                ("above", models.BigIntegerField()),
                ("per_s", models.IntegerField()),
                ("webhook", models.CharField(max_length=2048)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("app", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="log_alerts",
                                          to="platform.app")),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.AddConstraint(
            model_name="logalert",
            constraint=models.UniqueConstraint(fields=("app", "name"), name="log_alert_name_once_per_app"),
        ),
    ]
