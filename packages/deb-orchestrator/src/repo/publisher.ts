/** What a RepoPublisher gets: the binaries of the latest build of each package in a tag. */
export interface RepoPackageFile {
  /** Binary package name, version and architecture. */
  name: string;
  version: string;
  arch: string;
  filename: string;
  /** Source package it was built from (for the pool layout). */
  source: string;
  sha256: string;
  size: number;
  /** Absolute path of the content in the hub's artifact store (read-only). */
  path: string;
}

export interface RepoPublishRequest {
  tag: string;
  /** The regeneration number; the snapshot is immutable once published. */
  number: number;
  /** An empty directory to fill: dists/, pool/ ... */
  dir: string;
  /** Suite and codename written into Release. */
  suite: string;
  arches: string[];
  files: RepoPackageFile[];
  signal?: AbortSignal;
}

export interface RepoPublishResult {
  /** Whether InRelease/Release.gpg were written. */
  signed: boolean;
  packages: number;
}

/**
 * Writes a tag's APT repository. The hub owns numbering, the `latest` link and serving; the publisher
 * only fills one directory. The real implementation writes and signs an APT repository with the debian
 * package; tests use a listing publisher.
 */
export interface RepoPublisher {
  publish(request: RepoPublishRequest): Promise<RepoPublishResult>;
  /** Armored public key apt must trust for these repositories, if they are signed. */
  publicKey(): Promise<string | undefined>;
}
