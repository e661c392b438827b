"""paas.platform: Platform Control and Code Center (Django project, API, CLI).

This folder is imported as ``paas.platform``. When a tool puts the checkout itself
on ``sys.path`` (``python -c`` or ``python -m`` run from here, gunicorn's chdir),
``import platform`` would find this folder instead of the standard library and
break uuid, Django and more. In that one case, load and hand back the real stdlib
module: the import system returns whatever ``sys.modules`` holds afterwards.
"""

if __name__ == "platform":
    import importlib.util
    import os
    import sys
    import sysconfig

    _spec = importlib.util.spec_from_file_location("platform", os.path.join(sysconfig.get_path("stdlib"), "platform.py"))
    _stdlib_platform = importlib.util.module_from_spec(_spec)
    sys.modules["platform"] = _stdlib_platform
    _spec.loader.exec_module(_stdlib_platform)
