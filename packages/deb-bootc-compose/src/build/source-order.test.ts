import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isCodedError } from "@debian-bootc/core";
import { parseDeb822 } from "@debian-bootc/debian";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import { orderSources } from "./source-order.js";
import type { IdentifiedSource } from "./source-prep.js";

describe("orderSources", () => {
  const dir = useTempDir("source-order-");

  /** A source tree (debian/control with a comment), a .dsc's text and an archive Sources stanza: one of each kind. */
  async function sources(appDepends: string): Promise<IdentifiedSource[]> {
    const tree = join(dir(), "app");
    await mkdir(join(tree, "debian"), { recursive: true });
    await writeFile(
      join(tree, "debian", "control"),
      `Source: demo-app\n# the middle library\nBuild-Depends: ${appDepends}\n\nPackage: demo-app\nArchitecture: any\n`,
    );
    const dscText = [
      "Format: 3.0 (native)",
      "Source: demo-mid",
      "Binary: libdemo-mid-dev, demo-mid-doc",
      "Architecture: any all",
      "Version: 1.0",
      "Maintainer: Test <test@localhost>",
      "Build-Depends-Arch: libdemo-dev (>= 1.0) [amd64]",
      "Files:",
      " 00000000000000000000000000000000 1 demo-mid_1.0.tar.xz",
      "",
    ].join("\n");
    const [stanza] = parseDeb822(
      "Package: demo-lib\nBinary: libdemo1, libdemo-dev\nVersion: 1.0\nBuild-Depends: debhelper-compat (= 13)\n",
    );
    return [
      { index: 0, kind: "path", ref: "app", name: "demo-app", version: "1.0", detail: { tree } },
      { index: 1, kind: "dsc", ref: "mid.dsc", name: "demo-mid", version: "1.0", detail: { dscText, dscUrl: "mid.dsc" } },
      { index: 2, kind: "archive", ref: "demo-lib", name: "demo-lib", version: "1.0", detail: { stanza: stanza! } },
    ];
  }

  it("puts each source after those whose binaries it build-depends on, whatever kind it is", async () => {
    const names = (levels: { name: string }[][]) => levels.map((l) => l.map((s) => s.name));
    const ordered = await orderSources(await sources("libdemo-mid-dev, debhelper-compat (= 13)"), ["amd64"]);
    expect(names(ordered)).toEqual([["demo-lib"], ["demo-mid"], ["demo-app"]]);
    // the [amd64] restriction leaves mid free on arm64
    expect(names(await orderSources(await sources("libdemo-mid-dev"), ["arm64"]))).toEqual([["demo-mid", "demo-lib"], ["demo-app"]]);
    // a compose built for both waits as its amd64 build must
    expect(names(await orderSources(await sources("libdemo-mid-dev"), ["arm64", "amd64"]))).toEqual([
      ["demo-lib"],
      ["demo-mid"],
      ["demo-app"],
    ]);
  });

  it("refuses a cycle before anything is submitted", async () => {
    const [app, mid] = await sources("libdemo-mid-dev");
    const [stanza] = parseDeb822("Package: demo-lib\nBinary: libdemo-dev\nVersion: 1.0\nBuild-Depends: demo-app\n");
    const lib: IdentifiedSource = {
      index: 2,
      kind: "archive",
      ref: "demo-lib",
      name: "demo-lib",
      version: "1.0",
      detail: { stanza: stanza! },
    };
    const error = await orderSources([app!, mid!, lib], ["amd64"]).catch((e: unknown) => e);
    expect(isCodedError(error, "BUILD_DEPENDENCY_CYCLE")).toBe(true);
    expect((error as Error).message).toContain("demo-lib needs demo-app (built by demo-app)");
  });
});
