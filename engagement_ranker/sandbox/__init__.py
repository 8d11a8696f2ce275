"""Faithful stand-ins for HubSpot, Yobi, Slack and SMTP, over a seeded, messy dataset.

Only the CLI and the tests import this package; the product reaches it over real sockets.
"""

from engagement_ranker.sandbox.runner import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
