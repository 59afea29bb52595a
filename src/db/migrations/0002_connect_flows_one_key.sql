-- A connection flow's two foreign keys (its organization, its app configuration) become one composite key to
-- the configuration, which must belong to the same organization: one check per inserted row instead of two,
-- and a flow can no longer name another organization's configuration. Deleting an organization still removes
-- its flows, through network_configs.
ALTER TABLE "network_configs" ADD CONSTRAINT "network_configs_org_id_id_unique" UNIQUE("org_id","id");
--> statement-breakpoint
ALTER TABLE "connect_flows" DROP CONSTRAINT "connect_flows_org_id_organizations_id_fk";
--> statement-breakpoint
ALTER TABLE "connect_flows" DROP CONSTRAINT "connect_flows_network_config_id_network_configs_id_fk";
--> statement-breakpoint
ALTER TABLE "connect_flows" ADD CONSTRAINT "connect_flows_network_config_fk" FOREIGN KEY ("org_id","network_config_id") REFERENCES "public"."network_configs"("org_id","id") ON DELETE cascade ON UPDATE no action;
