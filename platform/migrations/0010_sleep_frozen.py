"""Idle apps sleep frozen before they scale to zero (platform/control/sleep.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('platform', '0009_domain_ownership'),
    ]

    operations = [
        migrations.AddField(
            model_name='autoscale',
            name='asleep',
            field=models.BooleanField(default=False, help_text='web, idle: its instances are frozen until a request'),
        ),
        migrations.AddField(
            model_name='instance',
            name='frozen',
            field=models.BooleanField(default=False, help_text='asleep: its agent freezes it (no CPU, memory kept)'),
        ),
    ]
