-- One database per service (each service owns its tables; docs/architecture.md), as
-- Compose makes them (deploy/compose/postgres/databases.sql): one Secret shape for both.
CREATE DATABASE switchboard_auth;
CREATE DATABASE switchboard_registry;
CREATE DATABASE switchboard_metrics;
