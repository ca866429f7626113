"""Initial schema: accounts, devices and agents, runtime configs, artifacts, jobs and leases,
measurements, predictors, searches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=True),
        sa.Column("input_shape", sa.JSON(), nullable=False),
        sa.Column("opset", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('onnx', 'torchscript')", name=op.f("ck_artifacts_kind")),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_artifacts_size_positive")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_artifacts")),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('gpu', 'cpu', 'phone', 'edge')", name=op.f("ck_devices_kind")),
        sa.CheckConstraint(
            "state IN ('active', 'draining', 'disabled')", name=op.f("ck_devices_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("name", name=op.f("uq_devices_name")),
    )
    op.create_table(
        "runtime_configs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("runtime_version", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("settings_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_configs")),
        sa.UniqueConstraint(
            "backend",
            "runtime_version",
            "settings_hash",
            name=op.f("uq_runtime_configs_backend_runtime_version_settings_hash"),
        ),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "enrolled_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "state IN ('online', 'stale', 'offline', 'draining', 'disabled')",
            name=op.f("ck_agents_state"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_agents_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("credential_hash", name=op.f("uq_agents_credential_hash")),
    )
    op.create_index("ix_agents_device_id_state", "agents", ["device_id", "state"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)

    op.create_table(
        "enrollment_tokens",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_enrollment_tokens_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollment_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_enrollment_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_enrollment_tokens_device_id"), "enrollment_tokens", ["device_id"], unique=False
    )

    op.create_table(
        "predictors",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("training_measurement_ids", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("holdout_fraction", sa.Double(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('lut', 'linear', 'mlp')", name=op.f("ck_predictors_kind")),
        sa.CheckConstraint(
            "holdout_fraction >= 0 AND holdout_fraction < 1",
            name=op.f("ck_predictors_holdout_fraction_range"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_predictors_version_positive")),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_predictors_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_predictors_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictors")),
        sa.UniqueConstraint(
            "device_id",
            "runtime_config_id",
            "space_ref",
            "kind",
            "version",
            name="uq_predictors_version",
        ),
    )
    op.create_index(
        op.f("ix_predictors_runtime_config_id"), "predictors", ["runtime_config_id"], unique=False
    )

    op.create_table(
        "profiling_jobs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("input_shape", sa.JSON(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('op', 'network', 'model', 'layers')", name=op.f("ck_profiling_jobs_kind")
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'leased', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_profiling_jobs_state"),
        ),
        sa.CheckConstraint(
            "attempt >= 1 AND attempt <= max_attempts",
            name=op.f("ck_profiling_jobs_attempt_in_range"),
        ),
        sa.CheckConstraint("batch_size > 0", name=op.f("ck_profiling_jobs_batch_size_positive")),
        sa.ForeignKeyConstraint(
            ["artifact_sha256"],
            ["artifacts.sha256"],
            name=op.f("fk_profiling_jobs_artifact_sha256_artifacts"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_profiling_jobs_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_profiling_jobs_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiling_jobs")),
    )
    op.create_index(
        op.f("ix_profiling_jobs_artifact_sha256"),
        "profiling_jobs",
        ["artifact_sha256"],
        unique=False,
    )
    op.create_index(
        "ix_profiling_jobs_claim",
        "profiling_jobs",
        ["device_id", "state", "priority", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_profiling_jobs_runtime_config_id"),
        "profiling_jobs",
        ["runtime_config_id"],
        unique=False,
    )

    op.create_index(
        "uq_profiling_jobs_one_active_op",
        "profiling_jobs",
        ["device_id", "runtime_config_id", "subject", "batch_size"],
        unique=True,
        sqlite_where=sa.text("kind = 'op' AND state IN ('queued', 'leased')"),
        postgresql_where=sa.text("kind = 'op' AND state IN ('queued', 'leased')"),
    )
    op.create_table(
        "searches",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("owner_id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("budget_ms", sa.Double(), nullable=False),
        sa.Column("estimator", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("checkpoint_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'succeeded', 'failed', 'canceled', 'resuming')",
            name=op.f("ck_searches_state"),
        ),
        sa.CheckConstraint("budget_ms > 0", name=op.f("ck_searches_budget_positive")),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_searches_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_searches_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_searches_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
    )
    op.create_index(op.f("ix_searches_device_id"), "searches", ["device_id"], unique=False)
    op.create_index(
        "ix_searches_owner_id_created_at", "searches", ["owner_id", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_searches_runtime_config_id"), "searches", ["runtime_config_id"], unique=False
    )

    op.create_table(
        "job_leases",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("job_id", sa.String(length=26), nullable=False),
        sa.Column("agent_id", sa.String(length=26), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('live', 'completed', 'failed', 'expired', 'released')",
            name=op.f("ck_job_leases_state"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_job_leases_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["profiling_jobs.id"],
            name=op.f("fk_job_leases_job_id_profiling_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_leases")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_job_leases_token_hash")),
    )
    op.create_index(op.f("ix_job_leases_agent_id"), "job_leases", ["agent_id"], unique=False)
    op.create_index("ix_job_leases_expiry", "job_leases", ["state", "expires_at"], unique=False)
    op.create_index(op.f("ix_job_leases_job_id"), "job_leases", ["job_id"], unique=False)
    op.create_index(
        "uq_job_leases_one_live_per_job",
        "job_leases",
        ["job_id"],
        unique=True,
        sqlite_where=sa.text("state = 'live'"),
        postgresql_where=sa.text("state = 'live'"),
    )

    op.create_table(
        "measurements",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("runtime_config_id", sa.String(length=26), nullable=False),
        sa.Column("job_id", sa.String(length=26), nullable=True),
        sa.Column("agent_id", sa.String(length=26), nullable=True),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("space_ref", sa.String(length=128), nullable=True),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("input_shape", sa.JSON(), nullable=False),
        sa.Column("times_ms", sa.JSON(), nullable=False),
        sa.Column("min_ms", sa.Double(), nullable=False),
        sa.Column("median_ms", sa.Double(), nullable=False),
        sa.Column("mean_ms", sa.Double(), nullable=False),
        sa.Column("p90_ms", sa.Double(), nullable=False),
        sa.Column("p99_ms", sa.Double(), nullable=False),
        sa.Column("std_ms", sa.Double(), nullable=False),
        sa.Column("cv", sa.Double(), nullable=False),
        sa.Column("unstable", sa.Boolean(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("layer_profile", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "source IN ('agent', 'import', 'local')", name=op.f("ck_measurements_source")
        ),
        sa.CheckConstraint(
            "subject_kind IN ('op', 'network', 'model')", name=op.f("ck_measurements_subject_kind")
        ),
        sa.CheckConstraint("batch_size > 0", name=op.f("ck_measurements_batch_size_positive")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_measurements_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_measurements_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["profiling_jobs.id"],
            name=op.f("fk_measurements_job_id_profiling_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["runtime_config_id"],
            ["runtime_configs.id"],
            name=op.f("fk_measurements_runtime_config_id_runtime_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measurements")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_measurements_idempotency_key")),
        sa.UniqueConstraint("job_id", name=op.f("uq_measurements_job_id")),
    )
    op.create_index(op.f("ix_measurements_agent_id"), "measurements", ["agent_id"], unique=False)
    op.create_index(
        "ix_measurements_lookup",
        "measurements",
        ["device_id", "runtime_config_id", "subject_kind", "subject", "batch_size", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_measurements_runtime_config_id"),
        "measurements",
        ["runtime_config_id"],
        unique=False,
    )

    op.create_table(
        "search_events",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("search_id", sa.String(length=26), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name=op.f("fk_search_events_search_id_searches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_events")),
    )
    op.create_index(
        "ix_search_events_search_id_step", "search_events", ["search_id", "step"], unique=False
    )


def downgrade() -> None:
    op.drop_table("search_events")
    op.drop_table("measurements")
    op.drop_table("job_leases")
    op.drop_table("searches")
    op.drop_table("profiling_jobs")
    op.drop_table("predictors")
    op.drop_table("enrollment_tokens")
    op.drop_table("api_tokens")
    op.drop_table("agents")
    op.drop_table("users")
    op.drop_table("runtime_configs")
    op.drop_table("devices")
    op.drop_table("artifacts")
