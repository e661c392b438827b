from django.db import migrations, models


class Migration(migrations.Migration):
    """Hosts report the stacks built on them; placement sends an instance only where its stack is."""

    dependencies = [("platform", "0016_log_retention")]

    operations = [
        migrations.AddField(
            model_name="host",
            name="stacks",
            field=models.JSONField(blank=True, default=list,
                                   help_text="The stacks built on this host, as its agent last reported them"),
        ),
    ]
