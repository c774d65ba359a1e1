-- Run by `kpi migrate journal` every time (the kit's runner re-applies *.repeatable.sql files),
-- so that the role gets its grants whenever it comes to exist: 20260113_kpi_comprehensive_system
-- granted them only if the role existed then, and a login without CREATEROLE (CloudNativePG's
-- application owner) cannot create it: the cluster or a DBA does (services/journal/README.md).
-- Every statement here is idempotent. Tables added by later migrations get their grants here.
DO $$ BEGIN
    CREATE ROLE kpi_journal_app NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation OR insufficient_privilege THEN NULL;
END $$;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpi_journal_app') THEN
        RAISE WARNING 'role kpi_journal_app does not exist: the journal service cannot SET ROLE '
                      'to it (create it as services/journal/README.md says, then migrate again)';
        RETURN;
    END IF;
    GRANT USAGE ON SCHEMA hr TO kpi_journal_app;
    GRANT SELECT, INSERT ON hr.kpi_journal_entries TO kpi_journal_app;
    GRANT SELECT, INSERT, UPDATE ON hr.journal_kpis TO kpi_journal_app;
    -- Entries awaiting a decision: added with the entry, removed with its decision.
    GRANT SELECT, INSERT, DELETE ON hr.journal_pending_entries TO kpi_journal_app;
    -- The relay locks the rows it publishes (FOR UPDATE), which needs UPDATE.
    GRANT SELECT, INSERT, UPDATE, DELETE ON hr.journal_outbox TO kpi_journal_app;
    GRANT USAGE ON SEQUENCE hr.journal_outbox_id_seq TO kpi_journal_app;
    -- Workers forget old inbox rows (kpi_kit.outbox.prune_inbox: FOR UPDATE, then DELETE).
    GRANT SELECT, INSERT, UPDATE, DELETE ON hr.journal_inbox TO kpi_journal_app;
END $$;

-- A login that is not a superuser must be a member of the role to SET ROLE to it; granting that
-- takes CREATEROLE or the role's ADMIN OPTION, which the cluster's owner login may lack.
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kpi_journal_app')
       AND NOT pg_has_role(current_user, 'kpi_journal_app', 'MEMBER') THEN
        EXECUTE format('GRANT kpi_journal_app TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot make % a member of kpi_journal_app: ask the DBA (journal README)',
        current_user;
END $$;
