import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { diffPackages, findPreviousCompose, formatPackageDiff, type PackageRecord, type PackagesMetadata } from "./package-diff.js";
import { debPurl, spdxDocument } from "./sbom.js";

function rec(name: string, version: string, sha = `${name}${version}`, arch = "amd64"): PackageRecord {
  return {
    name,
    version,
    arch,
    source: name,
    sourceVersion: version,
    sha256: sha.padEnd(64, "0").slice(0, 64),
    size: 1,
    filename: `pool/main/${name[0]}/${name}/${name}_${version}_${arch}.deb`,
    repository: "debian",
    suite: "trixie",
    component: "main",
  };
}

function meta(id: string, packages: PackagesMetadata["payload"]["packages"]): PackagesMetadata {
  return {
    header: { type: "deb-bootc-compose.packages", version: "1.0" },
    payload: { compose: { id, name: "x", version: "1" }, packages },
  };
}

describe("diffPackages", () => {
  const a = meta("x-1-20261101.0", {
    minimal: {
      amd64: [rec("bash", "5.2.37-2"), rec("libc6", "2.41-12"), rec("gone", "1.0"), rec("tzdata", "2025b-4"), rec("same", "1.0")],
    },
    old: { amd64: [rec("only-old", "1")] },
  });
  const b = meta("x-1-20261102.0", {
    minimal: {
      amd64: [
        rec("bash", "5.2.37-2"),
        rec("libc6", "2.41-12+deb13u1"),
        rec("new", "2:1.0"),
        rec("tzdata", "2025a-1"),
        rec("same", "1.0", "rebuilt"),
      ],
    },
  });
  const diff = diffPackages(a, b);

  it("sorts changes into added, removed, upgraded, downgraded and rebuilt under the same version", () => {
    expect(diff.sets.minimal!.amd64).toEqual({
      added: [{ name: "new", arch: "amd64", version: "2:1.0" }],
      removed: [{ name: "gone", arch: "amd64", version: "1.0" }],
      upgraded: [{ name: "libc6", arch: "amd64", from: "2.41-12", to: "2.41-12+deb13u1" }],
      downgraded: [{ name: "tzdata", arch: "amd64", from: "2025b-4", to: "2025a-1" }],
      changed: [{ name: "same", arch: "amd64", from: "1.0", to: "1.0" }],
      unchanged: 1,
    });
    expect(diff.sets.old!.amd64!.removed).toEqual([{ name: "only-old", arch: "amd64", version: "1" }]);
    expect(diff.summary).toEqual({ added: 1, removed: 2, upgraded: 1, downgraded: 1, changed: 1 });
  });

  it("renders the diff as text", () => {
    const text = formatPackageDiff(diff);
    expect(text).toContain(
      "package changes from x-1-20261101.0 to x-1-20261102.0\n1 added, 2 removed, 1 upgraded, 1 downgraded, 1 changed",
    );
    expect(text).toContain(
      "minimal/amd64: 5 changes (1 unchanged)\n  added      new 2:1.0\n  removed    gone 1.0\n  upgraded   libc6 2.41-12 -> 2.41-12+deb13u1\n  downgraded tzdata 2025b-4 -> 2025a-1\n",
    );
    expect(formatPackageDiff(diffPackages(b, b))).toContain("minimal/amd64: no changes (5 unchanged)");
  });
});

describe("findPreviousCompose", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("picks the latest finished compose of the same name with metadata", async () => {
    const root = await mkdtemp(join(tmpdir(), "prev-"));
    dirs.push(root);
    const make = async (id: string, status: string, withMeta = true) => {
      await mkdir(join(root, id, "compose", "metadata"), { recursive: true });
      await writeFile(join(root, id, "STATUS"), `${status}\n`);
      if (withMeta) await writeFile(join(root, id, "compose", "metadata", "packages.json"), "{}");
    };
    await make("img-13.0-20261101.0", "FINISHED");
    await make("img-13.0-20261102.0", "FINISHED_INCOMPLETE");
    await make("img-13.0-20261102.1", "DOOMED");
    await make("img-13.0-20261102.2", "FINISHED", false);
    await make("other-13.0-20261103.0", "FINISHED");
    await make("img-13.0-20261103.0", "STARTED");
    expect(await findPreviousCompose(root, "img", "img-13.0-20261103.0")).toBe(join(root, "img-13.0-20261102.0"));
    expect(await findPreviousCompose(root, "nothing", "x")).toBeUndefined();
  });
});

describe("spdxDocument", () => {
  it("describes the image and contains every package with checksum and purl", () => {
    const doc = spdxDocument({
      composeId: "c-1-20261126.0",
      image: { name: "debian/bootc-minimal", version: "13.0", variant: "minimal", arch: "amd64", digest: `sha256:${"ab".repeat(32)}` },
      packages: [rec("libstdc++6", "14.2.0-19"), rec("libstdc--6", "1"), rec("dbus", "1:1.16.2-2")],
      distro: "debian-trixie",
      created: new Date("2026-11-26T12:00:00.123Z"),
      toolVersion: "0.1.0",
    }) as {
      packages: Array<Record<string, unknown>>;
      relationships: Array<Record<string, string>>;
      creationInfo: { created: string };
    } & Record<string, unknown>;
    expect(doc.spdxVersion).toBe("SPDX-2.3");
    expect(doc.creationInfo.created).toBe("2026-11-26T12:00:00Z");
    const ids = doc.packages.map((p) => p.SPDXID as string);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^SPDXRef-[A-Za-z0-9.-]+$/);
    expect(doc.packages[0]).toMatchObject({
      name: "debian/bootc-minimal",
      primaryPackagePurpose: "CONTAINER",
      checksums: [{ algorithm: "SHA256", checksumValue: "ab".repeat(32) }],
    });
    expect(doc.relationships.filter((r) => r.relationshipType === "CONTAINS")).toHaveLength(3);
    expect(doc.relationships[0]).toEqual({ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: ids[0] });
    expect(debPurl({ name: "dbus", version: "1:1.16.2-2", arch: "amd64" }, "debian-trixie")).toBe(
      "pkg:deb/debian/dbus@1%3A1.16.2-2?arch=amd64&distro=debian-trixie",
    );
  });
});
