/**
 * The signed APT repositories of the tags and the OSTree repositories published into the data directory,
 * served read-only, and the key the APT repositories are signed with.
 */
import { z } from "zod";
import { operations } from "./operation.js";

export const repositoryOperations = operations({
  repoKey: {
    method: "GET",
    path: "/repos/key.asc",
    summary: "The OpenPGP key tag repositories are signed with",
    produces: "application/pgp-keys",
  },
  repoFile: {
    method: "GET",
    path: "/repos/*",
    summary: "Tag repositories: /repos/TAG/latest/... and /repos/TAG/N/...",
    params: z.object({ "*": z.string() }),
    produces: "application/octet-stream",
  },
  ostreeFile: {
    method: "GET",
    path: "/ostree/*",
    summary: "OSTree repositories published into DATA/ostree/NAME (deb-bootc-compose publish): /ostree/NAME/summary, ...",
    params: z.object({ "*": z.string() }),
    produces: "application/octet-stream",
  },
});
