CREATE TABLE "weekly_feedback_mailings" (
	"user_id" text NOT NULL,
	"week_of" date NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "weekly_feedback_mailings_pk" PRIMARY KEY("user_id","week_of")
);
--> statement-breakpoint
ALTER TABLE "weekly_feedback_mailings" ADD CONSTRAINT "weekly_feedback_mailings_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE cascade;--> statement-breakpoint
CREATE INDEX "weekly_feedback_mailings_week_idx" ON "weekly_feedback_mailings" USING btree ("week_of");