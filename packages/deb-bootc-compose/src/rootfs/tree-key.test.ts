import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDefinition } from "../definition.js";
import type { InstallPlan } from "./apt-sources.js";
import type { ContainersTrust } from "./containers-policy.js";
import { canonicalJson, type KeyedPackage, rootfsCodeHash, treeKeyInputs, treeKeyOf } from "./tree-key.js";

const BASE = `name: keyed
version: "13.0"
packages: [systemd, dracut, ostree-boot]
exclude: [initramfs-tools]
variants:
  minimal: {}
  standard:
    inherits: minimal
    packages: [less]
kernel:
  package: linux-image-amd64
files:
  - dest: /usr/lib/motd.d/10-x
    content: "hello\\n"
  - dest: /etc/from-file
    src: files/extra.conf
postprocess:
  - name: machine-id
    run: ": > /etc/machine-id"
  - name: from-file
    script: scripts/tune.sh
kargs: [rw]
`;

const PACKAGES: KeyedPackage[] = [
  { name: "systemd", version: "257.9-1~deb13u1", architecture: "amd64", sha256: "a".repeat(64) },
  { name: "base-files", version: "13.8", architecture: "amd64", sha256: "b".repeat(64) },
  { name: "tzdata", version: "2025b-4", architecture: "all", sha256: "c".repeat(64) },
];

const PLAN: InstallPlan = {
  sources: ["deb [signed-by=/out/c.0/compose/repo/snapshot-keyring.gpg] copy:///out/c.0/compose/repo trixie-minimal main"],
  keyrings: ["/out/c.0/compose/repo/snapshot-keyring.gpg"],
  variant: "required",
  packages: PACKAGES.map((p) => `${p.name}=${p.version}`),
  from: "snapshot",
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tree-key-"));
  await mkdir(join(dir, "files"));
  await mkdir(join(dir, "scripts"));
  await writeFile(join(dir, "files/extra.conf"), "x=1\n");
  await writeFile(join(dir, "scripts/tune.sh"), "echo tune\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Variation {
  text?: string;
  variant?: string;
  plan?: Partial<InstallPlan>;
  packages?: KeyedPackage[];
  mmdebstrap?: string;
  env?: NodeJS.ProcessEnv;
  containersTrust?: ContainersTrust;
}

async function keyOf(v: Variation = {}): Promise<string> {
  const text = v.text ?? BASE;
  return treeKeyOf(
    await treeKeyInputs({
      definition: parseDefinition(text, join(dir, "def.yaml")),
      baseDir: dir,
      variant: v.variant ?? "minimal",
      arch: "amd64",
      plan: { ...PLAN, ...v.plan },
      packages: v.packages ?? PACKAGES,
      mmdebstrap: v.mmdebstrap ?? "mmdebstrap 1.5.7",
      env: v.env ?? {},
      ...(v.containersTrust ? { containersTrust: v.containersTrust } : {}),
    }),
  ).key;
}

describe("the rootfs tree key", () => {
  it("is a SHA256 that is stable for the same inputs and carries the code version", async () => {
    const a = await keyOf();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await keyOf()).toBe(a);
    const inputs = await treeKeyInputs({
      definition: parseDefinition(BASE, join(dir, "def.yaml")),
      baseDir: dir,
      variant: "minimal",
      arch: "amd64",
      plan: PLAN,
      packages: PACKAGES,
      mmdebstrap: "mmdebstrap 1.5.7",
      env: {},
    });
    expect(inputs.code).toBe(await rootfsCodeHash());
    expect(inputs.code).toMatch(/^[0-9a-f]{64}$/);
    expect(treeKeyOf({ ...inputs, code: "0".repeat(64) }).key).not.toBe(a);
  });

  it("does not change with fields that do not shape the tree", async () => {
    const a = await keyOf();
    const unrelated = [
      BASE.replace('version: "13.0"', 'version: "13.1"'),
      BASE.replace("name: keyed", "name: other-name"),
      BASE.replace("kargs: [rw]", "kargs: [rw, quiet]"),
      `${BASE}image:\n  name: debian/elsewhere\n`,
      `${BASE}outputs: [ostree]\n`,
      `${BASE}ostree:\n  ref: "custom/{arch}"\n`,
      `${BASE}disk:\n  size: 8G\n`,
      `${BASE}description: words\n`,
    ];
    for (const text of unrelated) expect(await keyOf({ text }), text).toBe(a);
    // the compose's own snapshot path (sources, keyring) differs per compose and must not matter
    expect(await keyOf({ plan: { sources: ["deb copy:///out/c.1/compose/repo trixie-minimal main"], keyrings: ["/out/c.1/k.gpg"] } })).toBe(
      a,
    );
    // the order the set arrives in does not matter either
    expect(await keyOf({ packages: [...PACKAGES].reverse() })).toBe(a);
    // an implicit SOURCE_DATE_EPOCH is not an input
    expect(await keyOf({ env: { PATH: "/usr/bin" } })).toBe(a);
  });

  it("changes with every input that shapes the tree", async () => {
    const a = await keyOf();
    const variations: Array<[string, Variation]> = [
      ["a package's version", { packages: PACKAGES.map((p, i) => (i === 0 ? { ...p, version: "257.9-2" } : p)) }],
      [
        "a package's SHA256 (a rebuild with the same version)",
        { packages: PACKAGES.map((p, i) => (i === 1 ? { ...p, sha256: "d".repeat(64) } : p)) },
      ],
      ["a package more", { packages: [...PACKAGES, { name: "less", version: "668-1", architecture: "amd64", sha256: "e".repeat(64) }] }],
      ["the --include list", { plan: { packages: [...PLAN.packages, "less=668-1"] } }],
      ["the mmdebstrap variant", { plan: { variant: "important" } }],
      ["the host's mmdebstrap", { mmdebstrap: "mmdebstrap 1.5.8" }],
      ["an explicit SOURCE_DATE_EPOCH", { env: { SOURCE_DATE_EPOCH: "1700000000" } }],
      ["the variant's request", { variant: "standard" }],
      ["packages", { text: BASE.replace("packages: [systemd, dracut, ostree-boot]", "packages: [systemd, dracut, ostree-boot, kmod]") }],
      ["exclude", { text: BASE.replace("exclude: [initramfs-tools]", "exclude: [initramfs-tools, nano]") }],
      ["recommends", { text: `${BASE}recommends: true\n` }],
      ["suite", { text: `${BASE}suite: forky\n` }],
      ["kernel.package", { text: BASE.replace("package: linux-image-amd64", "package: linux-image-cloud-amd64") }],
      ["bootloader", { text: `${BASE}bootloader: [grub, systemd-boot]\n` }],
      ["users", { text: `${BASE}users:\n  - name: admin\n` }],
      ["groups", { text: `${BASE}groups:\n  - name: admin\n` }],
      ["units", { text: `${BASE}units:\n  enable: [systemd-networkd.service]\n` }],
      ["an inline file's content", { text: BASE.replace('content: "hello\\n"', 'content: "hello!\\n"') }],
      ["a file's mode", { text: BASE.replace("    src: files/extra.conf", '    src: files/extra.conf\n    mode: "0600"') }],
      ["an inline script", { text: BASE.replace('run: ": > /etc/machine-id"', 'run: "rm -f /etc/machine-id"') }],
      ["the image's containers trust", { containersTrust: { scope: "r.example/debian", publicKey: "A" } }],
    ];
    // another key or registry is another tree too
    const trusted = await keyOf({ containersTrust: { scope: "r.example/debian", publicKey: "A" } });
    expect(await keyOf({ containersTrust: { scope: "r.example/debian", publicKey: "B" } })).not.toBe(trusted);
    expect(await keyOf({ containersTrust: { scope: "r.example/other", publicKey: "A" } })).not.toBe(trusted);
    const seen = new Set([a]);
    for (const [what, v] of variations) {
      const k = await keyOf(v);
      expect(k, what).not.toBe(a);
      seen.add(k);
    }
    expect(seen.size).toBe(variations.length + 1);
  });

  it("follows the content of files and scripts given by path", async () => {
    const a = await keyOf();
    await writeFile(join(dir, "files/extra.conf"), "x=2\n");
    const b = await keyOf();
    await writeFile(join(dir, "scripts/tune.sh"), "echo tuned\n");
    const c = await keyOf();
    await writeFile(join(dir, "files/extra.conf"), "x=1\n");
    await writeFile(join(dir, "scripts/tune.sh"), "echo tune\n");
    expect(new Set([a, b, c]).size).toBe(3);
    expect(await keyOf()).toBe(a);
  });

  it("canonical JSON sorts keys at every level and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"e":0,"f":1}]},"b":1}');
  });
});
