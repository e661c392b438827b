from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('platform', '0019_registry_logins'),
    ]

    operations = [
        migrations.AddField(
            model_name='addon',
            name='stack',
            field=models.CharField(default='host', help_text="Whose suite's server it runs: its app's stack when made (services/serverpackages.py)", max_length=40),
        ),
    ]
