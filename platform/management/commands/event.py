import re

from django.core.management.base import BaseCommand, CommandError

from paas.platform.actions.events import record

# Only the platform's own events come this way (its supervisor's crash reports); app events are
# recorded by the actions that change the app, in the same transaction.
PLATFORM_ACTION = re.compile(r"platform\.[a-z_]{1,40}\Z", re.ASCII)


class Command(BaseCommand):
    help = "Record a platform event (no app, no actor) in the audit log, e.g. a crashed platform process."

    def add_arguments(self, parser):
        parser.add_argument("action", help="platform.<name>, such as platform.crash")
        parser.add_argument("message")

    def handle(self, *args, action, message, **options):
        if not PLATFORM_ACTION.match(action):
            raise CommandError(f"action must look like platform.crash, not {action!r}")
        if not message.isprintable() or len(message) > 1000:
            raise CommandError("the message must be at most 1000 printable characters")
        record(None, action, message)
