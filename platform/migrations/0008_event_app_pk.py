"""Events remember their app's id: an app's events are found by the app, not by a reusable name."""

from django.db import migrations, models


def copy_app_ids(apps, schema_editor):
    Event = apps.get_model("platform", "Event")
    Event.objects.filter(app__isnull=False).update(app_pk=models.F("app_id"))


class Migration(migrations.Migration):

    dependencies = [
        ('platform', '0007_egress'),
    ]

    operations = [
        migrations.AddField(
            model_name='event',
            name='app_pk',
            field=models.BigIntegerField(blank=True, help_text='The app\'s id, kept after it is destroyed: tells apps of one name apart', null=True),
        ),
        migrations.RunPython(copy_app_ids, migrations.RunPython.noop),
    ]
