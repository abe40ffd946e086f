"""Alembic environment and versions; a package so installs carry it and ``bot.db`` can find it."""
