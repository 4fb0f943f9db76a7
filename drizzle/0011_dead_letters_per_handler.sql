CREATE TABLE "handler_failures" (
	"event_id" uuid NOT NULL,
	"handler" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text NOT NULL,
	"failed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "handler_failures_pk" PRIMARY KEY("event_id","handler")
);
--> statement-breakpoint
DROP INDEX "dead_letters_event_idx";--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "handler" text;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "emitted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "replay_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "replayed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD COLUMN "resolved_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "handler_failures_failed_idx" ON "handler_failures" USING btree ("failed_at");--> statement-breakpoint
CREATE INDEX "dead_letters_unresolved_idx" ON "dead_letters" USING btree ("event_name","created_at") WHERE "dead_letters"."resolved_at" is null;--> statement-breakpoint
ALTER TABLE "dead_letters" ADD CONSTRAINT "dead_letters_event_handler_key" UNIQUE NULLS NOT DISTINCT("event_id","handler");