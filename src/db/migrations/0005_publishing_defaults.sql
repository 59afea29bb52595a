ALTER TABLE "post_targets" ADD COLUMN "options" jsonb;--> statement-breakpoint
ALTER TABLE "social_accounts" ADD COLUMN "publishing_defaults" jsonb DEFAULT '{}'::jsonb NOT NULL;