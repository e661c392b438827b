"""Print the WSGI app of the project in the current directory as gunicorn's
MODULE:VARIABLE (or a Django project's MODULE), or nothing when there is none.

Run by bin/compile with the app's interpreter; reads files, imports nothing.
"""

import pathlib
import re

SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][\w.]*)['"]""")
APP_VAR = re.compile(r"^(?:(application|app)\s*(?::[^=]+)?=|def\s+(application|app)\s*\()", re.MULTILINE)
MODULES = ("wsgi.py", "app.py", "application.py", "main.py", "server.py")


def django_target(root: pathlib.Path) -> str:
    manage = root / "manage.py"
    if not manage.is_file():
        return ""
    found = SETTINGS.search(manage.read_text(errors="replace"))
    if found:
        package = found.group(1).split(".")[0]
        if (root / package / "wsgi.py").is_file():
            return f"{package}.wsgi"
    for candidate in sorted(root.glob("*/wsgi.py")):
        return f"{candidate.parent.name}.wsgi"
    return ""


def module_target(root: pathlib.Path) -> str:
    for name in MODULES:
        path = root / name
        if path.is_file():
            found = APP_VAR.search(path.read_text(errors="replace"))
            if found:
                return f"{path.stem}:{found.group(1) or found.group(2)}"
    return ""


def main() -> None:
    root = pathlib.Path(".")
    target = django_target(root) or module_target(root)
    if target:
        print(target)


main()
