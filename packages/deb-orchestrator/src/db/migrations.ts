import type { ColumnDefinitionBuilder, CreateTableBuilder, Kysely, Migration, MigrationProvider } from "kysely";
import type { DialectName } from "./database.js";

/* Migrations are written once with Kysely's schema builder and run on both databases; the only
 * dialect difference is how an auto-increment primary key is spelled. */

type AnyDb = Kysely<unknown>;

function withId<T extends string>(table: CreateTableBuilder<T, never>, dialect: DialectName): CreateTableBuilder<T, "id"> {
  return dialect === "postgres"
    ? table.addColumn("id", "serial", (c) => c.primaryKey())
    : table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());
}

const notNull = (c: ColumnDefinitionBuilder) => c.notNull();

function initial(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await withId(db.schema.createTable("users"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("created_at", "bigint", notNull)
        .addColumn("disabled", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await withId(db.schema.createTable("tokens"), dialect)
        .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("hash", "text", (c) => c.notNull().unique())
        .addColumn("label", "text", notNull)
        .addColumn("created_at", "bigint", notNull)
        .addColumn("last_used_at", "bigint")
        .addColumn("revoked", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable("permissions")
        .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("perm", "text", notNull)
        .addPrimaryKeyConstraint("permissions_pk", ["user_id", "perm"])
        .execute();
      await withId(db.schema.createTable("hosts"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("arches", "text", notNull)
        .addColumn("capacity", "integer", notNull)
        .addColumn("enabled", "integer", (c) => c.notNull().defaultTo(1))
        .addColumn("last_checkin", "bigint")
        .addColumn("load", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("session", "text")
        .addColumn("created_at", "bigint", notNull)
        .execute();
      await withId(db.schema.createTable("packages"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("created_at", "bigint", notNull)
        .execute();
      await withId(db.schema.createTable("builds"), dialect)
        .addColumn("package_id", "integer", (c) => c.notNull().references("packages.id"))
        .addColumn("name", "text", notNull)
        .addColumn("version", "text", notNull)
        .addColumn("state", "text", notNull)
        .addColumn("task_id", "integer")
        .addColumn("owner_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("source", "text", notNull)
        .addColumn("created_at", "bigint", notNull)
        .addColumn("completed_at", "bigint")
        .addUniqueConstraint("builds_nv", ["name", "version"])
        .execute();
      await withId(db.schema.createTable("binaries"), dialect)
        .addColumn("build_id", "integer", (c) => c.notNull().references("builds.id"))
        .addColumn("name", "text", notNull)
        .addColumn("version", "text", notNull)
        .addColumn("arch", "text", notNull)
        .addColumn("filename", "text", notNull)
        .addColumn("sha256", "text", notNull)
        .addColumn("size", "bigint", notNull)
        .addUniqueConstraint("binaries_build_file", ["build_id", "filename"])
        .execute();
      await withId(db.schema.createTable("buildroots"), dialect)
        .addColumn("build_id", "integer")
        .addColumn("task_id", "integer", (c) => c.notNull().unique())
        .addColumn("arch", "text", notNull)
        .addColumn("host_id", "integer")
        .addColumn("created_at", "bigint", notNull)
        .execute();
      await db.schema
        .createTable("buildroot_packages")
        .addColumn("buildroot_id", "integer", (c) => c.notNull().references("buildroots.id"))
        .addColumn("name", "text", notNull)
        .addColumn("version", "text", notNull)
        .addColumn("arch", "text", notNull)
        .execute();
      await db.schema.createIndex("buildroot_packages_by_name").on("buildroot_packages").columns(["name", "version"]).execute();
      await withId(db.schema.createTable("tags"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("arches", "text", notNull)
        .addColumn("created_at", "bigint", notNull)
        .execute();
      await db.schema
        .createTable("tag_inheritance")
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("parent_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("priority", "integer", notNull)
        .addPrimaryKeyConstraint("tag_inheritance_pk", ["tag_id", "parent_id"])
        .execute();
      await withId(db.schema.createTable("external_repos"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("url", "text", notNull)
        .addColumn("suite", "text", notNull)
        .addColumn("components", "text", notNull)
        .addColumn("created_at", "bigint", notNull)
        .execute();
      await db.schema
        .createTable("tag_external_repos")
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("repo_id", "integer", (c) => c.notNull().references("external_repos.id"))
        .addColumn("priority", "integer", notNull)
        .addPrimaryKeyConstraint("tag_external_repos_pk", ["tag_id", "repo_id"])
        .execute();
      await withId(db.schema.createTable("targets"), dialect)
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("build_tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("dest_tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .execute();
      await db.schema
        .createTable("tagged_builds")
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("build_id", "integer", (c) => c.notNull().references("builds.id"))
        .addColumn("package_id", "integer", (c) => c.notNull().references("packages.id"))
        .addColumn("tagged_at", "bigint", notNull)
        .addColumn("tagged_by", "integer", notNull)
        .addPrimaryKeyConstraint("tagged_builds_pk", ["tag_id", "build_id"])
        .execute();
      await withId(db.schema.createTable("tasks"), dialect)
        .addColumn("parent_id", "integer", (c) => c.references("tasks.id"))
        .addColumn("label", "text")
        .addColumn("method", "text", notNull)
        .addColumn("arch", "text")
        .addColumn("state", "text", notNull)
        .addColumn("priority", "integer", notNull)
        .addColumn("weight", "integer", notNull)
        .addColumn("host_id", "integer")
        .addColumn("session", "text")
        .addColumn("lease_expires", "bigint")
        .addColumn("owner_id", "integer", notNull)
        .addColumn("request", "text", notNull)
        .addColumn("result", "text")
        .addColumn("error_code", "text")
        .addColumn("error_message", "text")
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("build_id", "integer")
        .addColumn("tag_id", "integer")
        .addColumn("created_at", "bigint", notNull)
        .addColumn("started_at", "bigint")
        .addColumn("completed_at", "bigint")
        .addUniqueConstraint("tasks_parent_label", ["parent_id", "label"])
        .execute();
      await db.schema.createIndex("tasks_by_state").on("tasks").columns(["state", "arch", "priority", "id"]).execute();
      await db.schema.createIndex("tasks_by_host").on("tasks").columns(["host_id", "state"]).execute();
      await db.schema.createIndex("tasks_by_parent").on("tasks").column("parent_id").execute();
      await db.schema
        .createTable("task_files")
        .addColumn("task_id", "integer", (c) => c.notNull().references("tasks.id"))
        .addColumn("name", "text", notNull)
        .addColumn("sha256", "text", notNull)
        .addColumn("size", "bigint", notNull)
        .addColumn("kind", "text", notNull)
        .addPrimaryKeyConstraint("task_files_pk", ["task_id", "name"])
        .execute();
      await withId(db.schema.createTable("repos"), dialect)
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("number", "integer", notNull)
        .addColumn("state", "text", notNull)
        .addColumn("task_id", "integer")
        .addColumn("created_at", "bigint", notNull)
        .addUniqueConstraint("repos_tag_number", ["tag_id", "number"])
        .execute();
      await withId(db.schema.createTable("events"), dialect)
        .addColumn("time", "bigint", notNull)
        .addColumn("user_id", "integer")
        .addColumn("kind", "text", notNull)
        .addColumn("object_type", "text", notNull)
        .addColumn("object_id", "integer")
        .addColumn("data", "text", notNull)
        .execute();
      await db.schema.createIndex("events_by_object").on("events").columns(["object_type", "object_id"]).execute();
    },
    async down() {
      throw new Error("the initial migration cannot be reverted");
    },
  };
}

function webhooks(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await withId(db.schema.createTable("webhooks"), dialect)
        .addColumn("url", "text", notNull)
        .addColumn("secret", "text", notNull)
        .addColumn("kinds", "text", notNull)
        .addColumn("cursor", "integer", notNull)
        .addColumn("enabled", "integer", (c) => c.notNull().defaultTo(1))
        .addColumn("failures", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("last_error", "text")
        .addColumn("next_attempt", "bigint")
        .addColumn("created_at", "bigint", notNull)
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("webhooks").execute();
    },
  };
}

/**
 * Indexes for the web UI's and the API's lists (each checked with EXPLAIN on both databases in
 * indexes.test.ts): tasks by owner and by build, failures of the last day (state and completion time),
 * tasks completed in a time range, builds by state and by owner, newest first.
 */
function listIndexes(): Migration {
  const indexes: Array<[string, string, string[]]> = [
    ["tasks_by_owner", "tasks", ["owner_id", "id"]],
    ["tasks_by_build", "tasks", ["build_id"]],
    ["tasks_by_completed", "tasks", ["completed_at"]],
    // the failures of the last day: SQLite would otherwise walk every failed task ever (tasks_by_state)
    ["tasks_by_state_completed", "tasks", ["state", "completed_at"]],
    ["builds_by_state", "builds", ["state", "id"]],
    ["builds_by_owner", "builds", ["owner_id", "id"]],
  ];
  return {
    async up(db: AnyDb) {
      for (const [name, table, columns] of indexes) await db.schema.createIndex(name).on(table).columns(columns).execute();
    },
    async down(db: AnyDb) {
      for (const [name] of indexes) await db.schema.dropIndex(name).execute();
    },
  };
}

/**
 * Events that concern a build without being about the build object itself (a tag gained or lost it) name
 * it in `build_id`, so a build's history is one indexed read; filled in for the tag events written before.
 * Stored files are found by sha256 (deleting a build removes only files nothing else refers to).
 */
function buildEventsAndFileHashes(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable("events").addColumn("build_id", "integer").execute();
      const kysely = db as Kysely<{ events: { id: number; kind: string; data: string; build_id: number | null } }>;
      const tagEvents = await kysely
        .selectFrom("events")
        .select(["id", "data"])
        .where("kind", "in", ["tag.build-added", "tag.build-removed"])
        .execute();
      for (const event of tagEvents) {
        const build = (JSON.parse(event.data) as { build?: unknown }).build;
        if (typeof build === "number") await kysely.updateTable("events").set({ build_id: build }).where("id", "=", event.id).execute();
      }
      await db.schema.createIndex("events_by_build").on("events").columns(["build_id", "id"]).execute();
      await db.schema.createIndex("binaries_by_sha256").on("binaries").column("sha256").execute();
      await db.schema.createIndex("task_files_by_sha256").on("task_files").column("sha256").execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropIndex("task_files_by_sha256").execute();
      await db.schema.dropIndex("binaries_by_sha256").execute();
      await db.schema.dropIndex("events_by_build").execute();
      await db.schema.alterTable("events").dropColumn("build_id").execute();
    },
  };
}

/**
 * Webhook URLs can carry a token in their query string; the event log is readable by anyone a hub lets
 * read, so its webhook events keep only scheme, host and path (as new ones are written).
 */
function redactWebhookEvents(): Migration {
  return {
    async up(db: AnyDb) {
      const kysely = db as Kysely<{ events: { id: number; kind: string; data: string } }>;
      const events = await kysely.selectFrom("events").select(["id", "data"]).where("kind", "=", "webhook.created").execute();
      for (const event of events) {
        const data = JSON.parse(event.data) as { url?: unknown };
        if (typeof data.url !== "string" || !URL.canParse(data.url)) continue;
        const url = new URL(data.url);
        data.url = `${url.protocol}//${url.host}${url.pathname}`;
        await kysely
          .updateTable("events")
          .set({ data: JSON.stringify(data) })
          .where("id", "=", event.id)
          .execute();
      }
    },
    async down() {},
  };
}

/** Webhooks to loopback, link-local or the hub's own addresses need an admin's explicit permission. */
function webhookLocalTargets(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable("webhooks")
        .addColumn("allow_local", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("webhooks").dropColumn("allow_local").execute();
    },
  };
}

/**
 * API tokens may expire; web sessions are records of their own (short-lived, closed at logout) instead of
 * a cookie holding the API token.
 */
function sessionsAndTokenExpiry(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable("tokens").addColumn("expires_at", "bigint").execute();
      await withId(db.schema.createTable("web_sessions"), dialect)
        .addColumn("hash", "text", (c) => c.notNull().unique())
        .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("token_id", "integer", (c) => c.notNull().references("tokens.id"))
        .addColumn("created_at", "bigint", notNull)
        .addColumn("expires_at", "bigint", notNull)
        .execute();
      await db.schema.createIndex("web_sessions_by_expiry").on("web_sessions").column("expires_at").execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("web_sessions").execute();
      await db.schema.alterTable("tokens").dropColumn("expires_at").execute();
    },
  };
}

/** Uploads per user until something refers to them: the upload quota and the removal of unused uploads. */
function uploads(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .createTable("uploads")
        .addColumn("sha256", "text", notNull)
        .addColumn("user_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("size", "bigint", notNull)
        .addColumn("created_at", "bigint", notNull)
        .addPrimaryKeyConstraint("uploads_pk", ["sha256", "user_id"])
        .execute();
      await db.schema.createIndex("uploads_by_user").on("uploads").columns(["user_id", "created_at"]).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("uploads").execute();
    },
  };
}

/** A buildArch held in the dep-wait state keeps the unsatisfied build-dependencies its check found. */
function depWait(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable("tasks").addColumn("dep_wait", "text").execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("tasks").dropColumn("dep_wait").execute();
    },
  };
}

/**
 * Automatic rebuilds: a tag's opt-in (`auto_rebuild`, the most rebuilds one change may queue; 0 is off,
 * and only builds tagged from `auto_rebuild_since` on count), each change looked at once
 * (`rebuild_triggers`), and each rebuild planned, queued and ended (`rebuilds`).
 */
function autoRebuilds(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable("tags")
        .addColumn("auto_rebuild", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable("tags").addColumn("auto_rebuild_since", "bigint").execute();
      await db.schema
        .createTable("rebuild_triggers")
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("build_id", "integer", (c) => c.notNull().references("builds.id"))
        .addColumn("outcome", "text", notNull)
        .addColumn("created_at", "bigint", notNull)
        .addPrimaryKeyConstraint("rebuild_triggers_pk", ["tag_id", "build_id"])
        .execute();
      await withId(db.schema.createTable("rebuilds"), dialect)
        .addColumn("tag_id", "integer", (c) => c.notNull().references("tags.id"))
        .addColumn("trigger_build_id", "integer", (c) => c.notNull().references("builds.id"))
        .addColumn("base_build_id", "integer", (c) => c.notNull().references("builds.id"))
        .addColumn("source", "text", notNull)
        .addColumn("level", "integer", notNull)
        .addColumn("version", "text", notNull)
        .addColumn("binnmu", "integer", notNull)
        .addColumn("reason", "text", notNull)
        .addColumn("state", "text", notNull)
        .addColumn("task_id", "integer")
        .addColumn("build_id", "integer")
        .addColumn("created_at", "bigint", notNull)
        .addUniqueConstraint("rebuilds_once", ["tag_id", "trigger_build_id", "source"])
        .execute();
      await db.schema.createIndex("rebuilds_by_tag_state").on("rebuilds").columns(["tag_id", "state"]).execute();
    },
    async down(db: AnyDb) {
      await db.schema.dropTable("rebuilds").execute();
      await db.schema.dropTable("rebuild_triggers").execute();
      await db.schema.alterTable("tags").dropColumn("auto_rebuild_since").execute();
      await db.schema.alterTable("tags").dropColumn("auto_rebuild").execute();
    },
  };
}

/**
 * Composes recorded by the hub (deb-bootc-compose reports them): the compose itself, its phases with
 * times and logs, its images, the packages of each image with the build each came from, and its SBOM and
 * package diff as JSON documents. `compose_id` is the compose's own ID (debian-bootc-13.0-20261203.0);
 * the integer id names it in the event log.
 */
function composes(dialect: DialectName): Migration {
  return {
    async up(db: AnyDb) {
      await withId(db.schema.createTable("composes"), dialect)
        .addColumn("compose_id", "text", (c) => c.notNull().unique())
        .addColumn("name", "text", notNull)
        .addColumn("definition_hash", "text", notNull)
        .addColumn("definition", "text", notNull)
        .addColumn("status", "text", notNull)
        .addColumn("owner_id", "integer", (c) => c.notNull().references("users.id"))
        .addColumn("started_at", "bigint", notNull)
        .addColumn("completed_at", "bigint")
        .addColumn("sbom", "text")
        .addColumn("diff", "text")
        .execute();
      await db.schema.createIndex("composes_by_name").on("composes").columns(["name", "id"]).execute();
      await db.schema.createIndex("composes_by_status").on("composes").columns(["status", "id"]).execute();
      await db.schema
        .createTable("compose_phases")
        .addColumn("compose_id", "integer", (c) => c.notNull().references("composes.id"))
        .addColumn("name", "text", notNull)
        .addColumn("position", "integer", notNull)
        .addColumn("status", "text", notNull)
        .addColumn("started_at", "bigint")
        .addColumn("completed_at", "bigint")
        .addColumn("error", "text")
        .addColumn("log", "text")
        .addPrimaryKeyConstraint("compose_phases_pk", ["compose_id", "name"])
        .execute();
      await db.schema
        .createTable("compose_images")
        .addColumn("compose_id", "integer", (c) => c.notNull().references("composes.id"))
        .addColumn("variant", "text", notNull)
        .addColumn("arch", "text", notNull)
        .addColumn("kind", "text", notNull)
        .addColumn("path", "text", notNull)
        .addColumn("digest", "text")
        .addColumn("size", "bigint", notNull)
        .addPrimaryKeyConstraint("compose_images_pk", ["compose_id", "path"])
        .execute();
      await db.schema
        .createTable("compose_packages")
        .addColumn("compose_id", "integer", (c) => c.notNull().references("composes.id"))
        .addColumn("variant", "text", notNull)
        .addColumn("arch", "text", notNull)
        .addColumn("name", "text", notNull)
        .addColumn("version", "text", notNull)
        .addColumn("package_arch", "text", notNull)
        .addColumn("build_id", "integer", (c) => c.references("builds.id"))
        .addPrimaryKeyConstraint("compose_packages_pk", ["compose_id", "variant", "arch", "name"])
        .execute();
      await db.schema.createIndex("compose_packages_by_build").on("compose_packages").column("build_id").execute();
    },
    async down(db: AnyDb) {
      for (const table of ["compose_packages", "compose_images", "compose_phases", "composes"]) await db.schema.dropTable(table).execute();
    },
  };
}

/** What a builder can run (`build`, `image`; space-separated): its claims only get those tasks. */
function hostCapabilities(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema
        .alterTable("hosts")
        .addColumn("capabilities", "text", (c) => c.notNull().defaultTo("build"))
        .execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("hosts").dropColumn("capabilities").execute();
    },
  };
}

/**
 * A running compose's lease: its client renews it with every report and a heartbeat; a compose whose
 * lease lapsed (the client was killed) is ended TERMINATED by the hub instead of staying STARTED.
 */
function composeLeases(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable("composes").addColumn("lease_expires", "bigint").execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("composes").dropColumn("lease_expires").execute();
    },
  };
}

/** Where a compose was published (its update channel's URL, refs and commits), as a JSON document like its diff. */
function composePublished(): Migration {
  return {
    async up(db: AnyDb) {
      await db.schema.alterTable("composes").addColumn("published", "text").execute();
    },
    async down(db: AnyDb) {
      await db.schema.alterTable("composes").dropColumn("published").execute();
    },
  };
}

/** Ordered migrations; names sort in the order they must run. */
export function migrationProvider(dialect: DialectName): MigrationProvider {
  return {
    async getMigrations() {
      return {
        "0001_initial": initial(dialect),
        "0002_webhooks": webhooks(dialect),
        "0003_list_indexes": listIndexes(),
        "0004_build_events": buildEventsAndFileHashes(),
        "0005_redact_webhook_events": redactWebhookEvents(),
        "0006_webhook_local_targets": webhookLocalTargets(),
        "0007_sessions_and_token_expiry": sessionsAndTokenExpiry(dialect),
        "0008_uploads": uploads(),
        "0009_dep_wait": depWait(),
        "0010_auto_rebuilds": autoRebuilds(dialect),
        "0011_composes": composes(dialect),
        "0012_host_capabilities": hostCapabilities(),
        "0013_compose_leases": composeLeases(),
        "0014_compose_published": composePublished(),
      };
    },
  };
}
