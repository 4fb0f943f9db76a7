-- Let a user re-key cascade through the append-only triggers.
--
-- Account recovery re-keys a soft-deleted user to its new Clerk id in one transaction
-- (`UPDATE users SET id = <new>, deleted_at = NULL … WHERE id = <old>`); every FK to users.id is
-- ON UPDATE CASCADE (0003_users_fk_on_update_cascade), so PostgreSQL rewrites the user-id columns of the
-- referencing rows. The triggers of 0001_invariants refused every UPDATE on the append-only tables, which
-- would make that cascade (and so the recovery) fail.
--
-- New trigger function fa_reject_update_unless_user_rekey(message, user_col [, user_col …]) lets an UPDATE
-- through only when it looks exactly like that cascade:
--   * nothing but the listed user-id columns changed (to_jsonb(NEW) - cols = to_jsonb(OLD) - cols), and at
--     least one of them did change (a no-op UPDATE is still refused, as before);
--   * every user-id column that changed was non-null and its OLD value is no longer a users.id — i.e. the user
--     it pointed to has just been re-keyed away. A direct `UPDATE … SET user_id = '<another user>'`, which
--     would move ledger/audit rows between two existing users, is therefore still refused.
-- Anything else raises FA001 with the message TG_ARGV[0], exactly like fa_reject_write().
-- It is used for UPDATE only. DELETE keeps fa_reject_write() with the same messages as before, so the old
-- combined "BEFORE UPDATE OR DELETE" triggers are split into <table>_no_update and <table>_no_delete.
CREATE OR REPLACE FUNCTION fa_reject_update_unless_user_rekey() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  user_cols text[];
  new_row jsonb;
  old_row jsonb;
  col text;
  old_id text;
  rekey boolean;
BEGIN
  IF TG_OP = 'UPDATE' AND TG_NARGS > 1 THEN
    user_cols := TG_ARGV[1:TG_NARGS - 1];
    new_row := to_jsonb(NEW);
    old_row := to_jsonb(OLD);
    rekey := (new_row - user_cols) = (old_row - user_cols) AND new_row <> old_row;
    IF rekey THEN
      FOREACH col IN ARRAY user_cols LOOP
        old_id := old_row ->> col;
        CONTINUE WHEN (new_row -> col) IS NOT DISTINCT FROM (old_row -> col);
        IF old_id IS NULL OR EXISTS (SELECT 1 FROM public.users u WHERE u.id = old_id) THEN
          rekey := false;
          EXIT;
        END IF;
      END LOOP;
    END IF;
    IF rekey THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION '%', coalesce(TG_ARGV[0], format('%s on %s is not allowed', TG_OP, TG_TABLE_NAME))
    USING ERRCODE = 'FA001', TABLE = TG_TABLE_NAME;
END;
$$;
--> statement-breakpoint
COMMENT ON FUNCTION fa_reject_update_unless_user_rekey() IS 'Trigger function (BEFORE UPDATE): allows only an UPDATE that changes nothing but the user-id columns named in TG_ARGV[1..], each away from a value that is no longer a users.id (a users.id re-key cascading through ON UPDATE CASCADE); refuses any other UPDATE with SQLSTATE FA001 and the message TG_ARGV[0].';
--> statement-breakpoint

-- 1. The credits ledger is append-only (user column: user_id).
DROP TRIGGER IF EXISTS credit_transactions_append_only ON credit_transactions;
--> statement-breakpoint
DROP TRIGGER IF EXISTS credit_transactions_no_update ON credit_transactions;
--> statement-breakpoint
CREATE TRIGGER credit_transactions_no_update
  BEFORE UPDATE ON credit_transactions
  FOR EACH ROW EXECUTE FUNCTION fa_reject_update_unless_user_rekey('credit_transactions is append-only', 'user_id');
--> statement-breakpoint
DROP TRIGGER IF EXISTS credit_transactions_no_delete ON credit_transactions;
--> statement-breakpoint
CREATE TRIGGER credit_transactions_no_delete
  BEFORE DELETE ON credit_transactions
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('credit_transactions is append-only');
--> statement-breakpoint

-- 7. Audit logs are append-only (user column: actor_id).
DROP TRIGGER IF EXISTS organization_audit_logs_append_only ON organization_audit_logs;
--> statement-breakpoint
DROP TRIGGER IF EXISTS organization_audit_logs_no_update ON organization_audit_logs;
--> statement-breakpoint
CREATE TRIGGER organization_audit_logs_no_update
  BEFORE UPDATE ON organization_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_update_unless_user_rekey('organization_audit_logs is append-only', 'actor_id');
--> statement-breakpoint
DROP TRIGGER IF EXISTS organization_audit_logs_no_delete ON organization_audit_logs;
--> statement-breakpoint
CREATE TRIGGER organization_audit_logs_no_delete
  BEFORE DELETE ON organization_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('organization_audit_logs is append-only');
--> statement-breakpoint
DROP TRIGGER IF EXISTS team_audit_logs_append_only ON team_audit_logs;
--> statement-breakpoint
DROP TRIGGER IF EXISTS team_audit_logs_no_update ON team_audit_logs;
--> statement-breakpoint
CREATE TRIGGER team_audit_logs_no_update
  BEFORE UPDATE ON team_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_update_unless_user_rekey('team_audit_logs is append-only', 'actor_id');
--> statement-breakpoint
DROP TRIGGER IF EXISTS team_audit_logs_no_delete ON team_audit_logs;
--> statement-breakpoint
CREATE TRIGGER team_audit_logs_no_delete
  BEFORE DELETE ON team_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('team_audit_logs is append-only');
--> statement-breakpoint
DROP TRIGGER IF EXISTS project_audit_logs_append_only ON project_audit_logs;
--> statement-breakpoint
DROP TRIGGER IF EXISTS project_audit_logs_no_update ON project_audit_logs;
--> statement-breakpoint
CREATE TRIGGER project_audit_logs_no_update
  BEFORE UPDATE ON project_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_update_unless_user_rekey('project_audit_logs is append-only', 'actor_id');
--> statement-breakpoint
DROP TRIGGER IF EXISTS project_audit_logs_no_delete ON project_audit_logs;
--> statement-breakpoint
CREATE TRIGGER project_audit_logs_no_delete
  BEFORE DELETE ON project_audit_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_write('project_audit_logs is append-only');
--> statement-breakpoint

-- 7. Activity logs are never edited (user column: user_id); DELETE stays allowed for retention.
DROP TRIGGER IF EXISTS activity_logs_no_update ON activity_logs;
--> statement-breakpoint
CREATE TRIGGER activity_logs_no_update
  BEFORE UPDATE ON activity_logs
  FOR EACH ROW EXECUTE FUNCTION fa_reject_update_unless_user_rekey('activity_logs is append-only (UPDATE is not allowed)', 'user_id');
