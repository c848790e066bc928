import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { hubOpenApiDocument } from "./server.js";

const committed = fileURLToPath(new URL("../../../../docs/openapi.json", import.meta.url));

describe("OpenAPI document", () => {
  it("describes every endpoint with its permission, and docs/openapi.json is current", async () => {
    const document = await hubOpenApiDocument();
    const text = `${JSON.stringify(document, null, 2)}\n`;
    // DEB_ORCHESTRATOR_WRITE_OPENAPI=1 regenerates the committed copy
    if (process.env.DEB_ORCHESTRATOR_WRITE_OPENAPI === "1") await writeFile(committed, text);
    expect(document.paths["/api/v1/builds"]).toHaveProperty("post.x-permission", "build");
    expect(document.paths["/api/v1/hosts/{name}/claim"]).toHaveProperty("post.x-permission", "host");
    expect(Object.keys(document.paths).length).toBeGreaterThan(30);
    expect(await readFile(committed, "utf8")).toBe(text);
  });
});
