"""Names of add-ons and attachments, checked here before they touch a query, a path or a config var."""

import re
import secrets

from paas.platform.exceptions import Invalid

_ADDON = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
_ATTACHMENT = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


def new_addon_name(service_name: str) -> str:
    prefix = "postgresql" if service_name == "postgres" else service_name
    return f"{prefix}-{secrets.token_hex(4)}"


def is_addon_name(name) -> bool:
    return isinstance(name, str) and bool(_ADDON.match(name))


def attachment_name(text) -> str:
    """``--as analytics`` -> ``ANALYTICS`` (its config var is ANALYTICS_URL)."""
    if not isinstance(text, str) or not _ATTACHMENT.match(text.upper().removesuffix("_URL")):
        raise Invalid("the attachment name (--as) must be a letter then letters, digits or '_', "
                      "at most 40, such as ANALYTICS (its config var is ANALYTICS_URL)")
    return text.upper().removesuffix("_URL")
