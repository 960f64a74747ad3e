"""no foreign keys from incident_events and timers to incidents

Each of them checked its row against `incidents` with a `SELECT ... FOR KEY SHARE`, locking the
incident's row again for every timeline event and timer: about a fifth of PostgreSQL's work per
new incident (issue 5, measured with the ingest alone: 280 -> 215 us of PostgreSQL CPU an alert).
Both tables are written only together with their incident, in its transaction, and incidents
are never deleted, so the check never had anything to catch. (Their incident_id indexes stay.)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:00:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# SQLite's constraints from 0001 have no name: batch mode names them by this convention to drop them
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
TABLES = ("incident_events", "timers")


def _name(table: str) -> str:
    """PostgreSQL's name of the constraint 0001 made, or the one NAMING gives it on SQLite."""
    if op.get_bind().dialect.name == "postgresql":
        return f"{table}_incident_id_fkey"
    return f"fk_{table}_incident_id_incidents"


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(_name(table), type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, naming_convention=NAMING) as batch_op:
            batch_op.create_foreign_key(_name(table), "incidents", ["incident_id"], ["id"])
