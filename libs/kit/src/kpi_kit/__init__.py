"""What every KPI service does alike: settings, pool, migrations, broker, auth, errors, outbox."""
