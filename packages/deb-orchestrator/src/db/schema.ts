import type { ColumnType, Generated } from "kysely";

/**
 * Table types of the hub database. Times are milliseconds since the epoch (bigint columns read back as
 * numbers on both databases); flags are 0/1 integers; lists and documents are JSON text. The same types
 * serve SQLite and PostgreSQL.
 */
export interface UsersTable {
  id: Generated<number>;
  name: string;
  created_at: number;
  disabled: number;
}
export interface TokensTable {
  id: Generated<number>;
  user_id: number;
  hash: string;
  label: string;
  created_at: number;
  last_used_at: number | null;
  revoked: number;
  /** Refused from this time on; null: until revoked. */
  expires_at: ColumnType<number | null, number | null | undefined, number | null>;
}
/** A browser's login: a random id (only its sha256 is kept), tied to the token its user logged in with. */
export interface WebSessionsTable {
  id: Generated<number>;
  hash: string;
  user_id: number;
  token_id: number;
  created_at: number;
  expires_at: number;
}
export interface PermissionsTable {
  user_id: number;
  perm: string;
}
export interface HostsTable {
  id: Generated<number>;
  name: string;
  user_id: number;
  arches: string;
  /** What it can run, space-separated (api/tasks.ts builderCapabilities). */
  capabilities: Generated<string>;
  capacity: number;
  enabled: number;
  last_checkin: number | null;
  load: number;
  session: string | null;
  created_at: number;
}
export interface PackagesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}
export interface BuildsTable {
  id: Generated<number>;
  package_id: number;
  name: string;
  version: string;
  state: string;
  task_id: number | null;
  owner_id: number;
  source: string;
  created_at: number;
  completed_at: number | null;
}
export interface BinariesTable {
  id: Generated<number>;
  build_id: number;
  name: string;
  version: string;
  arch: string;
  filename: string;
  sha256: string;
  size: number;
}
export interface BuildrootsTable {
  id: Generated<number>;
  build_id: number | null;
  task_id: number;
  arch: string;
  host_id: number | null;
  created_at: number;
}
export interface BuildrootPackagesTable {
  buildroot_id: number;
  name: string;
  version: string;
  arch: string;
}
export interface TagsTable {
  id: Generated<number>;
  name: string;
  arches: string;
  created_at: number;
  /** Automatic rebuilds: the most one change may queue; 0 is off. */
  auto_rebuild: Generated<number>;
  /** When automatic rebuilds were switched on: only builds tagged since then trigger them. */
  auto_rebuild_since: number | null;
}
/** A build tagged into an auto-rebuild tag, looked at once: what it caused. */
export interface RebuildTriggersTable {
  tag_id: number;
  build_id: number;
  /** `planned N`, `none`, or `over cap: N > CAP`. */
  outcome: string;
  created_at: number;
}
/** One automatic rebuild (binNMU) of a tag's package caused by a trigger build. */
export interface RebuildsTable {
  id: Generated<number>;
  tag_id: number;
  trigger_build_id: number;
  /** The build being rebuilt (its source files are reused). */
  base_build_id: number;
  source: string;
  /** 1-based: rebuilds of a level are queued once every earlier level's are done. */
  level: number;
  /** The rebuild's build version (VERSION+bN). */
  version: string;
  binnmu: number;
  reason: string;
  /** planned, queued, done, failed, blocked (an earlier level failed). */
  state: string;
  task_id: number | null;
  build_id: number | null;
  created_at: number;
}
export interface TagInheritanceTable {
  tag_id: number;
  parent_id: number;
  priority: number;
}
export interface ExternalReposTable {
  id: Generated<number>;
  name: string;
  url: string;
  suite: string;
  components: string;
  created_at: number;
}
export interface TagExternalReposTable {
  tag_id: number;
  repo_id: number;
  priority: number;
}
export interface TargetsTable {
  id: Generated<number>;
  name: string;
  build_tag_id: number;
  dest_tag_id: number;
}
export interface TaggedBuildsTable {
  tag_id: number;
  build_id: number;
  package_id: number;
  tagged_at: number;
  tagged_by: number;
}
export interface TasksTable {
  id: Generated<number>;
  parent_id: number | null;
  label: string | null;
  method: string;
  arch: string | null;
  state: string;
  priority: number;
  weight: number;
  host_id: number | null;
  session: string | null;
  lease_expires: number | null;
  owner_id: number;
  request: string;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  build_id: number | null;
  tag_id: number | null;
  /** A dep-wait task's check: what cannot be satisfied and where it was looked for (JSON, tasks/dep-wait.ts). */
  dep_wait: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}
export interface TaskFilesTable {
  task_id: number;
  name: string;
  sha256: string;
  size: number;
  kind: string;
}
export interface ReposTable {
  id: Generated<number>;
  tag_id: number;
  number: number;
  state: string;
  task_id: number | null;
  created_at: number;
}
export interface EventsTable {
  id: Generated<number>;
  time: number;
  user_id: number | null;
  kind: string;
  object_type: string;
  object_id: number | null;
  data: string;
  /** The build an event concerns when its object is something else (a tag gaining or losing the build). */
  build_id: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface WebhooksTable {
  id: Generated<number>;
  url: string;
  secret: string;
  /** Space-separated event kind prefixes ("task. build."); empty: every event. */
  kinds: string;
  /** The last event delivered (or skipped as not matching). */
  cursor: number;
  enabled: number;
  failures: number;
  last_error: string | null;
  next_attempt: number | null;
  created_at: number;
  /** 1: an admin allowed loopback, link-local and the hub's own addresses for this webhook. */
  allow_local: ColumnType<number, number | undefined, number>;
}

/** An upload nothing refers to yet, counted against its user's quota until something does. */
export interface UploadsTable {
  sha256: string;
  user_id: number;
  size: number;
  created_at: number;
}

/** A compose deb-bootc-compose recorded; `sbom`, `diff` and `published` are JSON documents as the compose sent them. */
export interface ComposesTable {
  id: Generated<number>;
  compose_id: string;
  name: string;
  definition_hash: string;
  definition: string;
  status: string;
  owner_id: number;
  started_at: number;
  completed_at: number | null;
  sbom: string | null;
  diff: string | null;
  /** Where the publish phase put the compose (ComposePublished), when it did. */
  published: string | null;
  /** While STARTED: when the hub ends it TERMINATED unless its client reports or renews it first. */
  lease_expires: number | null;
}
/** A phase of a compose, in the compose's order (`position`); `error` is JSON `{code, message}`. */
export interface ComposePhasesTable {
  compose_id: number;
  name: string;
  position: number;
  status: string;
  started_at: number | null;
  completed_at: number | null;
  error: string | null;
  log: string | null;
}
export interface ComposeImagesTable {
  compose_id: number;
  variant: string;
  arch: string;
  kind: string;
  /** Where it is in the compose directory (compose/minimal/amd64/...). */
  path: string;
  digest: string | null;
  size: number;
}
/** A package of an image; `build_id` when this hub built it. */
export interface ComposePackagesTable {
  compose_id: number;
  variant: string;
  arch: string;
  name: string;
  version: string;
  package_arch: string;
  build_id: number | null;
}

export interface Database {
  composes: ComposesTable;
  compose_phases: ComposePhasesTable;
  compose_images: ComposeImagesTable;
  compose_packages: ComposePackagesTable;
  uploads: UploadsTable;
  webhooks: WebhooksTable;
  users: UsersTable;
  tokens: TokensTable;
  web_sessions: WebSessionsTable;
  permissions: PermissionsTable;
  hosts: HostsTable;
  packages: PackagesTable;
  builds: BuildsTable;
  binaries: BinariesTable;
  buildroots: BuildrootsTable;
  buildroot_packages: BuildrootPackagesTable;
  tags: TagsTable;
  tag_inheritance: TagInheritanceTable;
  external_repos: ExternalReposTable;
  tag_external_repos: TagExternalReposTable;
  targets: TargetsTable;
  tagged_builds: TaggedBuildsTable;
  rebuild_triggers: RebuildTriggersTable;
  rebuilds: RebuildsTable;
  tasks: TasksTable;
  task_files: TaskFilesTable;
  repos: ReposTable;
  events: EventsTable;
}
