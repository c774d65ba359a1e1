-- Evaluations due are paged by (next_evaluation_due, id). With the due day alone indexed, every
-- page re-read and sorted each row of the due day it starts in (contracts created together fall
-- due together): an index scan, then an Incremental Sort that filtered out the rows of earlier
-- pages. With id in the key the page is a range scan that stops at its limit.
CREATE INDEX staff_kpis_due_page_idx ON hr.staff_kpis (next_evaluation_due, id)
    WHERE status = 'active';
DROP INDEX hr.staff_kpis_due_idx;
