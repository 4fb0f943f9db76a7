CREATE TABLE "payment_disputes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"razorpay_dispute_id" text NOT NULL,
	"payment_id" uuid NOT NULL,
	"status" text NOT NULL,
	"phase" text,
	"reason_code" text,
	"amount" integer NOT NULL,
	"amount_deducted" integer DEFAULT 0 NOT NULL,
	"currency" text NOT NULL,
	"credits_removed" integer DEFAULT 0 NOT NULL,
	"credits_shortfall" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "payment_disputes_razorpay_dispute_id_uq" UNIQUE("razorpay_dispute_id"),
	CONSTRAINT "payment_disputes_amounts_chk" CHECK ("payment_disputes"."amount" >= 0 and "payment_disputes"."amount_deducted" >= 0),
	CONSTRAINT "payment_disputes_credits_chk" CHECK ("payment_disputes"."credits_removed" >= 0 and "payment_disputes"."credits_shortfall" >= 0)
);
--> statement-breakpoint
ALTER TABLE "payment_webhook_events" ADD COLUMN "body_sha256" text;--> statement-breakpoint
ALTER TABLE "payment_disputes" ADD CONSTRAINT "payment_disputes_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "payment_disputes_payment_idx" ON "payment_disputes" USING btree ("payment_id");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_transactions_one_chargeback_per_dispute_uq" ON "credit_transactions" USING btree (("metadata" ->> 'disputeId')) WHERE "credit_transactions"."type" = 'REFUND' and ("credit_transactions"."metadata" ->> 'disputeId') is not null;--> statement-breakpoint
ALTER TABLE "payment_webhook_events" ADD CONSTRAINT "payment_webhook_events_body_sha256_uq" UNIQUE("body_sha256");