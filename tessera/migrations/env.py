"""Alembic environment: runs on the connection handed over by `tessera.core.db.migrate`."""

from alembic import context

import tessera.accounts.models
import tessera.core.outbox
import tessera.feed.models
import tessera.interactions.models
import tessera.media.models
import tessera.notifications.models
import tessera.notifications.push_models
import tessera.posts.models  # noqa: F401  (every service registers its tables here)
from tessera.core.db import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
