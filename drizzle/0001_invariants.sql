-- DB-level invariants that drizzle-kit cannot express: row triggers that refuse writes.
-- (CHECKs and partial unique indexes live in the schema and in 0000_init.sql.)
--
-- One trigger function for all of them. It raises SQLSTATE 'FA001' (a project-specific code, class "FA",
-- so an application error mapper can tell "the database refused a forbidden write" from constraint
-- violations of class 23) with the message passed as the trigger argument.
CREATE OR REPLACE FUNCTION fa_reject_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', coalesce(TG_ARGV[0], format('%s on %s is not allowed', TG_OP, TG_TABLE_NAME))
    USING ERRCODE = 'FA001', TABLE = TG_TABLE_NAME;
END;
$$;
--> statement-breakpoint
COMMENT ON FUNCTION fa_reject_write() IS 'Trigger function: refuses the write with SQLSTATE FA001 and the message given as trigger argument.';
--> statement-breakpoint

-- 1. The credits ledger is append-only.
DROP TRIGGER IF EXISTS credit_transactions_append_only ON credit_transactions;
--> statement-breakpoint
CREATE TRIGGER credit_transactions_append_only
  BEFORE UPDATE OR DELETE ON credit_transactions
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('credit_transactions is append-only');
--> statement-breakpoint

-- 7. Audit logs are append-only (no UPDATE, no DELETE).
DROP TRIGGER IF EXISTS organization_audit_logs_append_only ON organization_audit_logs;
--> statement-breakpoint
CREATE TRIGGER organization_audit_logs_append_only
  BEFORE UPDATE OR DELETE ON organization_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('organization_audit_logs is append-only');
--> statement-breakpoint
DROP TRIGGER IF EXISTS team_audit_logs_append_only ON team_audit_logs;
--> statement-breakpoint
CREATE TRIGGER team_audit_logs_append_only
  BEFORE UPDATE OR DELETE ON team_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('team_audit_logs is append-only');
--> statement-breakpoint
DROP TRIGGER IF EXISTS project_audit_logs_append_only ON project_audit_logs;
--> statement-breakpoint
CREATE TRIGGER project_audit_logs_append_only
  BEFORE UPDATE OR DELETE ON project_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('project_audit_logs is append-only');
--> statement-breakpoint

-- 7. Activity logs are never edited; DELETE stays allowed for retention.
DROP TRIGGER IF EXISTS activity_logs_no_update ON activity_logs;
--> statement-breakpoint
CREATE TRIGGER activity_logs_no_update
  BEFORE UPDATE ON activity_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('activity_logs is append-only (UPDATE is not allowed)');
--> statement-breakpoint

-- 8. Plans and payments are never deleted (deactivate plans with is_active = false).
DROP TRIGGER IF EXISTS plans_no_delete ON plans;
--> statement-breakpoint
CREATE TRIGGER plans_no_delete
  BEFORE DELETE ON plans
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('plans cannot be deleted (set is_active = false instead)');
--> statement-breakpoint
DROP TRIGGER IF EXISTS payments_no_delete ON payments;
--> statement-breakpoint
CREATE TRIGGER payments_no_delete
  BEFORE DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('payments cannot be deleted');
