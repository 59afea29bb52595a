-- Worker heartbeats (read by /ready): rewritten every few seconds and worthless after a minute, so unlogged (no WAL
-- per beat); a crash empties the table, which reads as "no recent heartbeat" until the workers beat again.
CREATE UNLOGGED TABLE "worker_heartbeats" (
	"id" text PRIMARY KEY NOT NULL,
	"host" text NOT NULL,
	"pid" integer NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"beat_at" timestamp with time zone NOT NULL
);
