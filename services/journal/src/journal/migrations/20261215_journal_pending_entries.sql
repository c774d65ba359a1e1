-- The entries still awaiting a decision, one row each: what a manager's "waiting for approval"
-- list reads. The journal is append-only and grows for decades; this table holds only what is
-- undecided now, so reading it costs what is pending today, not every entry ever held for
-- approval. An entry's row is written in the statement that appends it and removed in the
-- statement that appends its decision (queries.append_one).
-- No foreign key to the entries: one would make a TRUNCATE of the entries fail on the key
-- before their append-only trigger could refuse it (and the rows are only ever written together
-- with their entry, in one statement).
CREATE TABLE hr.journal_pending_entries (
    entry_id   uuid PRIMARY KEY,
    staff_id   uuid NOT NULL,
    -- The entry's created_at: the list's order (longest waiting first) and its page key.
    created_at timestamptz NOT NULL
);

CREATE INDEX journal_pending_entries_waiting_idx
    ON hr.journal_pending_entries (created_at, entry_id);
CREATE INDEX journal_pending_entries_staff_idx
    ON hr.journal_pending_entries (staff_id, created_at, entry_id);

-- The entries held for approval before this table existed and not yet decided.
INSERT INTO hr.journal_pending_entries (entry_id, staff_id, created_at)
SELECT e.id, e.staff_id, e.created_at
FROM hr.kpi_journal_entries e
WHERE e.is_pending_approval
  AND NOT EXISTS (
      SELECT FROM hr.kpi_journal_entries d
      WHERE d.related_entry_id = e.id
        AND d.entry_type IN ('approval_granted', 'approval_declined')
  );
