import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../api/openapi.js";
import { routeTable } from "../api/routes.js";

const committed = fileURLToPath(new URL("../../../../docs/openapi.json", import.meta.url));

describe("OpenAPI document", () => {
  it("describes every endpoint with its permission and its answer, and docs/openapi.json is current", async () => {
    const document = openApiDocument();
    expect(document.paths["/api/v1/builds"]).toHaveProperty("post.x-permission", "build");
    expect(document.paths["/api/v1/hosts/{name}/claim"]).toHaveProperty("post.x-permission", "host");
    const operations = Object.values(document.paths).flatMap((path) => Object.values(path)) as Array<{
      operationId: string;
      responses: Record<string, { content: Record<string, { schema?: unknown }> }>;
    }>;
    expect(operations).toHaveLength(routeTable.length);
    // every operation declares what it answers: a JSON schema, or the media type of its bytes
    for (const operation of operations) {
      const success = Object.entries(operation.responses).find(([status]) => status.startsWith("2"))?.[1];
      const [mediaType, content] = Object.entries(success?.content ?? {})[0] ?? [];
      expect(mediaType, operation.operationId).toBeDefined();
      if (mediaType === "application/json") expect(content?.schema, operation.operationId).toHaveProperty("type");
    }
    expect(document.paths["/api/v1/builds/{ref}"]).toHaveProperty(
      "get.responses.200.content.application/json.schema.properties.binaries.type",
      "array",
    );
    expect(await readFile(committed, "utf8")).toBe(`${JSON.stringify(document, null, 2)}\n`);
  });
});
