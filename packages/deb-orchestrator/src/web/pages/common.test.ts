import { describe, expect, it } from "vitest";
import { taskSubject } from "./common.js";

const subject = (method: string, request: unknown) =>
  String(taskSubject({ method, request: typeof request === "string" ? request : JSON.stringify(request) }));

describe("taskSubject", () => {
  it("says what each task method works on, from the method registry", () => {
    const sha256 = "a".repeat(64);
    expect(subject("build", { target: "trixie", dsc: "hello_1.dsc", files: [{ name: "hello_1.dsc", sha256, size: 1 }] })).toBe(
      'hello_1.dsc <span class="muted">→ trixie</span>',
    );
    expect(subject("newRepo", { tag: "trixie-dest" })).toBe("repo of trixie-dest");
    expect(subject("tagBuild", { tag: "trixie-dest", build: 3 })).toBe("tag into destination");
    expect(subject("noop", {})).toBe("");
  });

  it("escapes what a request says and shows nothing for a request that does not parse", () => {
    expect(subject("newRepo", { tag: "<script>x</script>" })).toBe("repo of &lt;script&gt;x&lt;/script&gt;");
    expect(subject("newRepo", { tag: 7 })).toBe("");
    expect(subject("newRepo", "{not json")).toBe("");
    expect(subject("unknownMethod", {})).toBe("");
  });
});
