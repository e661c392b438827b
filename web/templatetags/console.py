"""Template helpers of the console: a state as a coloured badge (a filter, not an include: lists of a
hundred hosts or fifty apps render one per row, and an include costs far more than a function)."""

from functools import lru_cache

from django import template
from django.utils.html import format_html
from django.utils.text import slugify

register = template.Library()


@register.filter
def badge(state) -> str:
    """``up`` → <span class="state state-up">up</span>, the text escaped."""
    return _badge(str(state))


# The badge depends on the text alone and states are a handful of words, so each is built once per
# process: format_html and slugify cost more than the rest of a row (a hundred hosts, their instances).
# Bounded, since the text comes from the database.
@lru_cache(maxsize=512)
def _badge(state: str) -> str:
    return format_html('<span class="state state-{}">{}</span>', slugify(state), state)
