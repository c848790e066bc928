/** The content-addressed artifact store: uploads checked against their sha256 and size, downloads. */
import { z } from "zod";
import { count, operations, sha256, size } from "./operation.js";

const sha256Params = z.object({ sha256 });

export const storedArtifact = z.object({
  sha256,
  size: count,
  /** False when the same content was stored before (the upload was checked and dropped). */
  created: z.boolean(),
});
export type StoredArtifact = z.infer<typeof storedArtifact>;

export const artifactOperations = operations({
  uploadArtifact: {
    method: "PUT",
    path: "/api/v1/artifacts/:sha256",
    permission: "any",
    summary: "Upload a file (application/octet-stream), checked against sha256 and size",
    params: sha256Params,
    query: z.object({ size }),
    bodyType: "application/octet-stream",
    status: 201,
    response: storedArtifact,
  },
  downloadArtifact: {
    method: "GET",
    path: "/api/v1/artifacts/:sha256",
    summary: "Download a stored file by sha256",
    params: sha256Params,
    produces: "application/octet-stream",
  },
  artifactSize: {
    method: "HEAD",
    path: "/api/v1/artifacts/:sha256",
    summary: "Download a stored file by sha256",
    params: sha256Params,
    produces: "application/octet-stream",
  },
});
