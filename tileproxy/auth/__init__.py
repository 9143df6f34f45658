"""Access control for tileproxy: PolicyMiddleware answers MapProxy's
``mapproxy.authorize`` callback from a declarative policy file (docs/security.md)."""

from __future__ import annotations

from .middleware import PolicyMiddleware
from .policy import Policy, load_policy

__all__ = ["Policy", "PolicyMiddleware", "load_policy"]
