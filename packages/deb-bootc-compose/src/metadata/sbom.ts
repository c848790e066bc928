import { createHash } from "node:crypto";
import type { PackageRecord } from "./package-diff.js";

/**
 * SPDX 2.3 JSON documents: one per image (variant/arch), describing the image and every Debian
 * package in it with its version, architecture, source package, .deb SHA256 and a purl.
 */

export interface SbomImage {
  /** Image (or package set) name and version. */
  name: string;
  version: string;
  variant: string;
  arch: string;
  /** OCI manifest digest (sha256:...) when an image was written. */
  digest?: string;
}

export interface SbomOptions {
  composeId: string;
  image: SbomImage;
  packages: readonly PackageRecord[];
  /** Debian release for the purl's distro qualifier (e.g. debian-13 or trixie). */
  distro: string;
  created: Date;
  toolVersion: string;
}

/** SPDX identifiers allow letters, digits, '.' and '-'. */
function spdxId(prefix: string, text: string, used: Set<string>): string {
  const base = `${prefix}-${text.replace(/[^A-Za-z0-9.-]/g, "-")}`;
  let id = base;
  for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
  used.add(id);
  return id;
}

/** purl of a Debian binary package (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO). */
export function debPurl(p: Pick<PackageRecord, "name" | "version" | "arch">, distro: string): string {
  return `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${encodeURIComponent(p.arch)}&distro=${encodeURIComponent(distro)}`;
}

export function spdxDocument(options: SbomOptions): Record<string, unknown> {
  const { image, packages } = options;
  const used = new Set<string>(["SPDXRef-DOCUMENT"]);
  const imageId = spdxId("SPDXRef-Image", `${image.variant}-${image.arch}`, used);
  const name = `${options.composeId}-${image.variant}-${image.arch}`;
  const fingerprint = createHash("sha256")
    .update(JSON.stringify([options.composeId, image, packages.map((p) => p.sha256)]))
    .digest("hex");
  const uuid = `${fingerprint.slice(0, 8)}-${fingerprint.slice(8, 12)}-5${fingerprint.slice(13, 16)}-8${fingerprint.slice(17, 20)}-${fingerprint.slice(20, 32)}`;
  const imagePackage: Record<string, unknown> = {
    SPDXID: imageId,
    name: image.name,
    versionInfo: image.version,
    downloadLocation: "NOASSERTION",
    filesAnalyzed: false,
    primaryPackagePurpose: "OPERATING-SYSTEM",
    licenseConcluded: "NOASSERTION",
    licenseDeclared: "NOASSERTION",
    copyrightText: "NOASSERTION",
  };
  if (image.digest?.startsWith("sha256:")) {
    imagePackage.checksums = [{ algorithm: "SHA256", checksumValue: image.digest.slice(7) }];
    imagePackage.primaryPackagePurpose = "CONTAINER";
  }
  const spdxPackages: Record<string, unknown>[] = [imagePackage];
  const relationships: Record<string, unknown>[] = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageId },
  ];
  for (const p of packages) {
    const id = spdxId("SPDXRef-Package-deb", `${p.name}-${p.arch}`, used);
    spdxPackages.push({
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      downloadLocation: "NOASSERTION",
      packageFileName: p.filename.split("/").pop(),
      filesAnalyzed: false,
      checksums: [{ algorithm: "SHA256", checksumValue: p.sha256 }],
      sourceInfo: `built from Debian source package ${p.source} ${p.sourceVersion}`,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      copyrightText: "NOASSERTION",
      primaryPackagePurpose: "LIBRARY",
      externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: debPurl(p, options.distro) }],
    });
    relationships.push({ spdxElementId: imageId, relationshipType: "CONTAINS", relatedSpdxElement: id });
  }
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name,
    documentNamespace: `https://spdx.org/spdxdocs/deb-bootc-compose/${encodeURIComponent(name)}-${uuid}`,
    creationInfo: {
      created: `${options.created.toISOString().slice(0, 19)}Z`,
      creators: [`Tool: deb-bootc-compose-${options.toolVersion}`],
    },
    documentDescribes: [imageId],
    packages: spdxPackages,
    relationships,
  };
}
