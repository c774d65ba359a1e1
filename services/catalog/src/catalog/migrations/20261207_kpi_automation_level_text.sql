-- automation_status is text in kpi-system.txt ("Level of automated scoring support"): a level
-- other than manual, assisted or automated is kept as written. The rule is
-- kpi_contracts.enums.AutomationLevel's, so every stored level travels in ModuleUpserted events:
-- 1 to 50 characters, no space at either end, no control character. PostgreSQL's \s leaves out
-- three no-break spaces that Python counts as spaces, so they are named.
ALTER TABLE hr.kpi_modules
    DROP CONSTRAINT kpi_modules_automation_status_check,
    ADD CONSTRAINT kpi_modules_automation_level CHECK (
        char_length(automation_status) BETWEEN 1 AND 50
        AND automation_status ~ '^[^\s\u00a0\u2007\u202f\x01-\x1f\x7f-\x9f]([^\x01-\x1f\x7f-\x9f]*[^\s\u00a0\u2007\u202f\x01-\x1f\x7f-\x9f])?$'
    );
