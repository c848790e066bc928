import { isCodedError } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { type BatchSource, buildOrder, buildOrderAcross, rebuildOrder } from "./build-order.js";
import { parseRelations } from "./relation.js";

const src = (source: string, binaries: string[], buildDepends = "", extra: Partial<BatchSource> = {}): BatchSource => ({
  source,
  version: "1.0",
  binaries,
  buildDepends: buildDepends ? parseRelations(buildDepends) : [],
  ...extra,
});

const lib = src("chaindemo-lib", ["libchaindemo1", "libchaindemo-dev"]);
const mid = src("chaindemo-mid", ["libchaindemo-mid-dev"], "libchaindemo-dev (>= 1.0)");
const app = src("chaindemo-app", ["chaindemo-app"], "libchaindemo-mid-dev");
const amd64 = { arch: "amd64" };

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

describe("buildOrderAcross", () => {
  it("waits on every architecture the batch is built for, not only the first", () => {
    // the middle library needs the base library only for its arm64 build, the application on every one
    const armOnly = src("chaindemo-mid", ["libchaindemo-mid-dev"], "libchaindemo-dev (>= 1.0) [arm64]");
    expect(buildOrder([app, armOnly, lib], amd64).levels).toEqual([["chaindemo-mid", "chaindemo-lib"], ["chaindemo-app"]]);
    const both = buildOrderAcross([app, armOnly, lib], ["amd64", "arm64"], {});
    expect(both.levels).toEqual([["chaindemo-lib"], ["chaindemo-mid"], ["chaindemo-app"]]);
    expect(both.edges.map((e) => `${e.source} ${e.needs}`)).toEqual(["chaindemo-app chaindemo-mid", "chaindemo-mid chaindemo-lib"]);
  });

  it("reports a cycle that only one architecture has", () => {
    const a = src("cycle-a", ["a-dev"], "b-dev [arm64]");
    const b = src("cycle-b", ["b-dev"], "a-dev");
    expect(buildOrderAcross([a, b], ["amd64"], {}).levels).toEqual([["cycle-a"], ["cycle-b"]]);
    const error = thrown(() => buildOrderAcross([a, b], ["amd64", "arm64"], {}));
    expect(isCodedError(error, "BUILD_DEPENDENCY_CYCLE")).toBe(true);
  });
});

describe("buildOrder", () => {
  it("orders a chain given in the wrong order into one level per link", () => {
    const order = buildOrder([app, mid, lib], amd64);
    expect(order.levels).toEqual([["chaindemo-lib"], ["chaindemo-mid"], ["chaindemo-app"]]);
    expect(order.edges).toContainEqual({
      source: "chaindemo-mid",
      needs: "chaindemo-lib",
      relation: "libchaindemo-dev (>= 1.0)",
      binary: "libchaindemo-dev",
    });
  });

  it("puts independent sources in one level, in the order given", () => {
    const other = src("zlib-demo", ["zlib-demo-dev"]);
    const user = src("user-demo", ["user-demo"], "zlib-demo-dev, libchaindemo-dev");
    expect(buildOrder([user, other, mid, lib], amd64).levels).toEqual([
      ["zlib-demo", "chaindemo-lib"],
      ["user-demo", "chaindemo-mid"],
    ]);
  });

  it("reads Build-Depends-Arch and -Indep too, with arch restrictions and profiles", () => {
    const a = src("a", ["a-bin"], "", { buildDependsArch: parseRelations("libchaindemo-dev [amd64]") });
    const b = src("b", ["b-bin"], "", { buildDependsIndep: parseRelations("libchaindemo-dev [!amd64]") });
    const c = src("c", ["c-bin"], "libchaindemo-dev <!nocheck>");
    expect(buildOrder([a, b, c, lib], amd64).levels).toEqual([
      ["b", "chaindemo-lib"],
      ["a", "c"],
    ]);
    expect(buildOrder([a, b, c, lib], { arch: "amd64", profiles: ["nocheck"] }).levels).toEqual([["b", "c", "chaindemo-lib"], ["a"]]);
    expect(buildOrder([a, b, c, lib], { arch: "arm64" }).levels).toEqual([
      ["a", "chaindemo-lib"],
      ["b", "c"],
    ]);
  });

  it("follows architecture qualifiers: :any and :native are the batch's, another architecture's are not", () => {
    const any = src("any", ["any-bin"], "libchaindemo-dev:any");
    const native = src("native", ["native-bin"], "libchaindemo-dev:native");
    const foreign = src("foreign", ["foreign-bin"], "libchaindemo-dev:i386");
    expect(buildOrder([any, native, foreign, lib], amd64).levels).toEqual([
      ["foreign", "chaindemo-lib"],
      ["any", "native"],
    ]);
  });

  it("takes alternatives in order: the first the batch produces, unless an earlier one is available outside", () => {
    const first = src("first", ["first-bin"], "libchaindemo-dev | libother-dev");
    const second = src("second", ["second-bin"], "libother-dev | libchaindemo-dev");
    expect(buildOrder([first, second, lib], amd64).levels).toEqual([["chaindemo-lib"], ["first", "second"]]);
    const outside = (r: { name: string }) => r.name === "libother-dev";
    expect(buildOrder([first, second, lib], { arch: "amd64", availableOutside: outside }).levels).toEqual([
      ["second", "chaindemo-lib"],
      ["first"],
    ]);
  });

  it("does not wait for a source whose version cannot satisfy the relation (it is satisfied from outside the batch)", () => {
    const old = src("old-user", ["old-user"], "libchaindemo-dev (<< 1.0)");
    const newer = src("new-user", ["new-user"], "libchaindemo-dev (>= 1.0~)");
    expect(buildOrder([old, newer, lib], amd64).levels).toEqual([["old-user", "chaindemo-lib"], ["new-user"]]);
    const binnmu = { ...lib, binaryVersion: "1.0+b1" };
    const exact = src("exact", ["exact"], "libchaindemo-dev (= 1.0+b1)");
    expect(buildOrder([exact, binnmu], amd64).levels).toEqual([["chaindemo-lib"], ["exact"]]);
  });

  it("lets a source build-depend on its own binaries (a bootstrap from outside)", () => {
    const self = src("selfhost", ["selfhost-compiler"], "selfhost-compiler");
    expect(buildOrder([self], amd64).levels).toEqual([["selfhost"]]);
  });

  it("reports a cycle with the sources in it and what each needs, leaving out those merely blocked", () => {
    const a = src("cycledemo-a", ["cycledemo-a-dev"], "cycledemo-b-dev");
    const b = src("cycledemo-b", ["cycledemo-b-dev"], "cycledemo-a-dev");
    const blocked = src("blocked", ["blocked"], "cycledemo-a-dev");
    const error = thrown(() => buildOrder([blocked, lib, a, b], amd64));
    expect(isCodedError(error, "BUILD_DEPENDENCY_CYCLE")).toBe(true);
    const e = error as Error & { details: { cycle: string[]; blocked: string[] } };
    expect(e.message).toBe(
      "build-dependency cycle: cycledemo-a needs cycledemo-b-dev (built by cycledemo-b); cycledemo-b needs cycledemo-a-dev (built by cycledemo-a)",
    );
    expect(e.details.cycle).toEqual(["cycledemo-a", "cycledemo-b"]);
    expect(e.details.blocked).toEqual(["blocked", "cycledemo-a", "cycledemo-b"]);
  });

  it("refuses a source given twice", () => {
    expect(
      isCodedError(
        thrown(() => buildOrder([lib, { ...lib, version: "2.0" }], amd64)),
        "BATCH_SOURCE_DUPLICATE",
      ),
    ).toBe(true);
  });
});

describe("rebuildOrder", () => {
  it("lists the reverse build-dependencies of a change, transitively, in order, and nothing unrelated", () => {
    const unrelated = src("unrelated", ["unrelated"], "libother-dev");
    const order = rebuildOrder([app, unrelated, lib, mid], { source: "chaindemo-lib", version: "1.1", binaries: lib.binaries }, amd64);
    expect(order.levels).toEqual([["chaindemo-mid"], ["chaindemo-app"]]);
    expect(order.edges.map((e) => `${e.source} <- ${e.needs} (${e.relation})`)).toEqual([
      "chaindemo-app <- chaindemo-mid (libchaindemo-mid-dev)",
      "chaindemo-mid <- chaindemo-lib (libchaindemo-dev (>= 1.0))",
    ]);
  });

  it("lists nothing when the new version no longer satisfies a relation (that build must wait, not be rebuilt)", () => {
    const pinned = src("pinned", ["pinned"], "libchaindemo-dev (<< 1.1)");
    expect(rebuildOrder([pinned, lib], { source: "chaindemo-lib", version: "1.1", binaries: lib.binaries }, amd64).levels).toEqual([]);
  });
});
