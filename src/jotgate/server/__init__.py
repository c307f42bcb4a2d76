"""The jotgate authentication server (needs the ``server`` extra).

Build an app with :func:`create_app` or run ``jotgate serve``::

    from jotgate.server import Settings, create_app
    app = create_app(Settings(database_url="sqlite+aiosqlite:///./auth.db"))
"""

from .app import create_app
from .settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "create_app"]
