"""Template helpers of the console: a state as a coloured badge (a filter, not an include: lists of a
hundred hosts or fifty apps render one per row, and an include costs far more than a function)."""

from django import template
from django.utils.html import format_html
from django.utils.text import slugify

register = template.Library()


@register.filter
def badge(state) -> str:
    """``up`` → <span class="state state-up">up</span>, the text escaped."""
    return format_html('<span class="state state-{}">{}</span>', slugify(str(state)), state)
