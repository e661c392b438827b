from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('platform', '0006_health_check'),
    ]

    operations = [
        migrations.AddField(
            model_name='app',
            name='egress',
            field=models.BooleanField(default=True, help_text='Instances may open connections out (paas egress:allow / egress:deny)'),
        ),
    ]
