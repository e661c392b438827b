"""Sans-io HTTP/1.1: strict head checks, body framing, header rewriting, error pages.

Nothing here touches a socket or a clock: bytes in, events out, bytes to send.
"""
