from django.conf import settings
from django.core.management.base import BaseCommand

from paas.platform.bootstrap import ensure_admin


class Command(BaseCommand):
    help = "Create the first admin account if none exists and print its credentials once."

    def handle(self, *args, **options):
        first = ensure_admin(settings.PAAS_DATA_DIR)
        if first is None:
            self.stdout.write("admin account exists already")
            return
        self.stdout.write(f"username: {first.username}")
        self.stdout.write(f"password: {first.password}")
        self.stdout.write(f"token file: {first.token_file}")
