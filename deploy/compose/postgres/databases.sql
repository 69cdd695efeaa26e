-- One database per service (each service owns its tables; docs/architecture.md).
CREATE DATABASE switchboard_auth;
CREATE DATABASE switchboard_registry;
CREATE DATABASE switchboard_metrics;
