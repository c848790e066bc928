import { readFile } from "node:fs/promises";
import { isCodedError, memoryOutput, runCli } from "@debian-bootc/core";
import { describe, expect, it } from "vitest";
import { loadDefinition, parseDefinition, resolveVariant } from "./definition.js";
import { closest } from "./suggest.js";
import { tool } from "./tool.js";

const example = new URL("../../../examples/minimal.yaml", import.meta.url).pathname;
const fixture = (name: string) => new URL(`./__fixtures__/definitions/${name}`, import.meta.url).pathname;

function invalid(yaml: string): { message: string; details: Record<string, unknown> } {
  try {
    parseDefinition(yaml, "def.yaml");
  } catch (error) {
    expect(isCodedError(error, "CONFIG_INVALID") || isCodedError(error, "CONFIG_SYNTAX")).toBe(true);
    return { message: (error as Error).message, details: (error as { details: Record<string, unknown> }).details };
  }
  throw new Error("expected the definition to be rejected");
}

describe("compose definitions", () => {
  it("accepts the shipped minimal example and fills defaults", async () => {
    const { definition } = await loadDefinition(example);
    expect(definition.name).toBe("debian-bootc-minimal");
    expect(definition.suite).toBe("trixie");
    expect(definition.units.mask).toContain("apt-daily.timer");
    expect(definition.image?.maxLayers).toBe(64);
    const standard = resolveVariant(definition, "standard");
    expect(standard.chain).toEqual(["minimal", "standard"]);
    expect(standard.packages).toContain("openssh-server");
    expect(standard.packages).toContain("systemd");
    expect(standard.packages).toContain("linux-image-amd64");
    expect(standard.packages).not.toContain("initramfs-tools");
  });

  it("gives defaults for a bare definition: trixie, amd64, the host's Debian mirror, one variant", () => {
    const def = parseDefinition('name: bare\nversion: "1"\n', "bare.yaml");
    expect(def.suite).toBe("trixie");
    expect(def.arches).toEqual(["amd64"]);
    expect(def.repositories).toEqual([{ type: "debian", name: "debian", components: ["main"] }]);
    expect(Object.keys(def.variants)).toEqual(["minimal"]);
    // Secure Boot and hybrid UEFI/BIOS by default: Debian's signed shim and GRUB, and GRUB for i386-pc
    expect(def.bootloader).toEqual({ loaders: ["grub"], secureBoot: true, firmware: "hybrid" });
    expect(resolveVariant(def, "minimal").packages).toEqual([
      "grub-common",
      "grub-efi-amd64-bin",
      "grub-efi-amd64-signed",
      "grub-pc-bin",
      "grub2-common",
      "linux-image-amd64",
      "shim-signed",
      "systemd-repart",
    ]);
  });

  it("reads the bootloader's long form and chooses the boot packages from it", () => {
    const def = (bootloader: string, outputs = "[ostree]") =>
      parseDefinition(`name: x\nversion: "1"\noutputs: ${outputs}\nbootloader: ${bootloader}\n`, "def.yaml");
    const unsigned = def("{secureBoot: false, firmware: uefi}");
    expect(unsigned.bootloader).toEqual({ loaders: ["grub"], secureBoot: false, firmware: "uefi" });
    expect(resolveVariant(unsigned, "minimal").packages).toEqual([
      "grub-common",
      "grub-efi-amd64-bin",
      "grub2-common",
      "linux-image-amd64",
      "systemd-repart",
    ]);
    const bios = def("{firmware: bios}", "[ostree, qcow2]");
    // no UEFI, so nothing to sign
    expect(bios.bootloader).toEqual({ loaders: ["grub"], secureBoot: false, firmware: "bios" });
    expect(resolveVariant(bios, "minimal").packages).toEqual([
      "grub-common",
      "grub-pc-bin",
      "grub2-common",
      "linux-image-amd64",
      "systemd-repart",
    ]);
    // the short forms still work and mean the defaults
    expect(def("[grub, systemd-boot]").bootloader).toEqual({ loaders: ["grub", "systemd-boot"], secureBoot: true, firmware: "hybrid" });
    const none = def("{loader: none}");
    expect(none.bootloader.loaders).toEqual(["none"]);
    expect(resolveVariant(none, "minimal").packages).toEqual(["linux-image-amd64"]);
  });

  it("refuses what disk images cannot do, with the reason, when the definition is read", () => {
    const text = (rest: string) => `name: x\nversion: "1"\noutputs: [ostree, qcow2]\n${rest}`;
    expect(invalid(text("bootloader: {firmware: bios, secureBoot: true}\n")).message).toMatch(
      /bootloader\.secureBoot: Secure Boot is a UEFI feature/,
    );
    expect(invalid(text("bootloader: {firmware: efi}\n")).message).toMatch(
      /bootloader\.firmware: expected one of uefi, bios, hybrid; got "efi" \(did you mean "uefi"\?\)/,
    );
    expect(invalid(text("bootloader: {secureboot: false}\n")).message).toMatch(
      /unknown field "secureboot" \(did you mean "secureBoot"\?\)/,
    );
    expect(invalid(text("bootloader: systemd-boot\n")).message).toMatch(
      /bootloader: disk images \(raw, qcow2\) need grub: systemd-boot reads only the FAT EFI partition/,
    );
    expect(invalid(text("disk:\n  filesystem: xfs\n")).message).toMatch(/disk\.filesystem: xfs is not supported for disk images/);
    expect(invalid(text("disk:\n  bios: true\n")).message).toMatch(/unknown field "bios"/);
    // without disk outputs, systemd-boot in the image is fine (an OCI image a later installer boots)
    expect(parseDefinition('name: x\nversion: "1"\nbootloader: systemd-boot\n', "def.yaml").bootloader.loaders).toEqual(["systemd-boot"]);
  });

  it("names a misspelt field, its line, and the field meant", () => {
    const { message, details } = invalid('name: x\nversion: "1"\npacakges: [systemd]\n');
    expect(message).toMatch(/^def\.yaml:3:\d+: pacakges: unknown field "pacakges" \(did you mean "packages"\?\)/);
    expect(details.line).toBe(3);
  });

  it("finds typos in nested fields too", () => {
    const { message } = invalid('name: x\nversion: "1"\nvariants:\n  minimal:\n    inherit: base\n');
    expect(message).toMatch(/def\.yaml:5:\d+: variants\.minimal\.inherit: unknown field "inherit" \(did you mean "inherits"\?\)/);
    const units = invalid('name: x\nversion: "1"\nunits:\n  enabel: [a.service]\n');
    expect(units.message).toMatch(/units\.enabel: .*did you mean "enable"/);
  });

  it("refuses a unit name systemctl would read as an option, and keeps the root's -.mount", () => {
    const { message } = invalid('name: x\nversion: "1"\nunits:\n  enable: ["-Hevil.example.service"]\n');
    expect(message).toMatch(/units\.enable\[0\]: expected a systemd unit name, not an option/);
    expect(parseDefinition('name: x\nversion: "1"\nunits:\n  mask: ["-.mount"]\n', "def.yaml").units.mask).toEqual(["-.mount"]);
  });

  it("rejects an unknown enum value with the choices and the closest one", () => {
    const { message } = invalid('name: x\nversion: "1"\nbootloader: sytemd-boot\n');
    expect(message).toMatch(
      /def\.yaml:3:\d+: bootloader: .*expected one of grub, systemd-boot, none; got "sytemd-boot" \(did you mean "systemd-boot"\?\)/,
    );
    expect(invalid('name: x\nversion: "1"\narches: [amd46]\n').message).toMatch(
      /arches\[0\]: expected one of .* \(did you mean "amd64"\?\)/,
    );
    expect(invalid('name: x\nversion: "1"\nrepositories:\n  - type: deb\n').message).toMatch(
      /def\.yaml:4:\d+: repositories\[0\]\.type: unknown repository type "deb" \(did you mean "debian"\?\)/,
    );
  });

  it("asks for quoted versions and valid package names", () => {
    expect(invalid("name: x\nversion: 13.10\n").message).toMatch(/version: expected a string; quote numeric versions/);
    expect(invalid('name: x\nversion: "1"\npackages: [Systemd]\n').message).toMatch(
      /def\.yaml:3:\d+: packages\[0\]: expected a Debian package name/,
    );
    expect(invalid('version: "1"\n').message).toMatch(/name: /);
  });

  it("takes an ostree ref only in ostree's syntax, so it never reaches ostree as an option", () => {
    for (const ref of ["--repo=/etc", "-x", "a b", "a//b", "{name}/../x", "{nam}/x"]) {
      expect(invalid(`name: x\nversion: "1"\nostree:\n  ref: "${ref}"\n`).message).toMatch(
        /def\.yaml:4:\d+: ostree\.ref: expected an ostree ref/,
      );
    }
    expect(parseDefinition('name: x\nversion: "1"\nostree:\n  ref: debian/{version}/{arch}/x_{variant}-1.0\n', "def.yaml").ostree.ref).toBe(
      "debian/{version}/{arch}/x_{variant}-1.0",
    );
  });

  it("checks variant inheritance: unknown parents and cycles", () => {
    expect(invalid('name: x\nversion: "1"\nvariants:\n  minimal: {}\n  std:\n    inherits: minmal\n').message).toMatch(
      /variants\.std\.inherits: no variant "minmal" \(did you mean "minimal"\?\)/,
    );
    expect(invalid('name: x\nversion: "1"\nvariants:\n  a:\n    inherits: b\n  b:\n    inherits: a\n').message).toMatch(
      /inheritance cycle: a -> b -> a/,
    );
  });

  it("checks cross-field rules: exactly one of src/content, outputs that need others, package in packages and exclude", () => {
    expect(invalid('name: x\nversion: "1"\nfiles:\n  - dest: /etc/x\n').message).toMatch(/files\[0\]: give exactly one of src and content/);
    expect(invalid('name: x\nversion: "1"\noutputs: [ociarchive]\n').message).toMatch(/outputs: ociarchive needs oci/);
    expect(invalid('name: x\nversion: "1"\npackages: [vim]\nexclude: [vim]\n').message).toMatch(
      /packages\[0\]: vim is both in packages and in exclude/,
    );
    expect(invalid('name: x\nversion: "1"\nfailable: [boot-tset]\n').message).toMatch(/did you mean "boot-test"/);
  });

  it("accepts a build section naming an orchestrator target and sources", () => {
    const def = parseDefinition(
      'name: x\nversion: "1"\nbuild:\n  target: trixie-bootc\n  sources:\n    - name: hello\n      dsc: hello.dsc\n',
      "b.yaml",
    );
    expect(def.build?.target).toBe("trixie-bootc");
    expect(invalid('name: x\nversion: "1"\nbuild:\n  target: t\n  sources: []\n').message).toMatch(/build\.sources/);
  });

  it("keeps host paths in the definition's folder unless allowAbsolutePaths, naming the field, line and what was expected", () => {
    const head = 'name: x\nversion: "1"\n';
    const src = invalid(`${head}files:\n  - dest: /etc/motd\n    src: /etc/shadow\n`);
    expect(src.message).toMatch(
      /^def\.yaml:5:\d+: files\[0\]\.src: expected a path relative to the definition's folder, got the absolute path \/etc\/shadow \(set allowAbsolutePaths: true/,
    );
    expect(invalid(`${head}postprocess:\n  - name: p\n    script: ../../root/x.sh\n`).message).toMatch(
      /postprocess\[0\]\.script: expected a path inside the definition's folder, got \.\.\/\.\.\/root\/x\.sh, which leads out of it/,
    );
    expect(invalid(`${head}build:\n  tokenFile: /root/.config/token\n  target: t\n  sources: [{ path: x }]\n`).message).toMatch(
      /def\.yaml:4:\d+: build\.tokenFile: expected a path relative to the definition's folder/,
    );
    expect(
      invalid(`${head}repositories:\n  - type: apt\n    name: r\n    uri: http://x.invalid/\n    suites: [s]\n    key: keys/../../k.asc\n`)
        .message,
    ).toMatch(/repositories\[0\]\.key: expected a path inside the definition's folder/);
    expect(invalid(`${head}build:\n  target: t\n  sources: [{ dsc: /srv/x.dsc }]\n`).message).toMatch(
      /build\.sources\[0\]\.dsc: expected a path relative/,
    );
    // inside the folder, URLs, and anything once the definition says so
    expect(() => parseDefinition(`${head}files:\n  - dest: /etc/motd\n    src: files/./motd\n`, "def.yaml")).not.toThrow();
    expect(() =>
      parseDefinition(`${head}build:\n  target: t\n  sources: [{ dsc: "https://x.invalid/a.dsc" }]\n`, "def.yaml"),
    ).not.toThrow();
    const allowed = parseDefinition(`${head}allowAbsolutePaths: true\nfiles:\n  - dest: /etc/motd\n    src: /etc/motd\n`, "def.yaml");
    expect(allowed.allowAbsolutePaths).toBe(true);
  });

  it("reads push: a registry scope (never an option or a reference with a tag) and a signing key kept in the definition's folder", () => {
    const head = 'name: x\nversion: "1"\n';
    const def = parseDefinition(
      `${head}push:\n  registry: registry.example:5000/debian\n  signing: { key: keys/sigstore.key, passphraseFile: keys/pass }\n`,
      "def.yaml",
    );
    expect(def.push).toEqual({
      registry: "registry.example:5000/debian",
      signing: { key: "keys/sigstore.key", passphraseFile: "keys/pass" },
    });
    for (const registry of ["--policy=/tmp/x", "docker://r.example", "r.example/debian:13"]) {
      expect(invalid(`${head}push:\n  registry: "${registry}"\n`).message).toMatch(/push\.registry: expected a registry scope/);
    }
    expect(invalid(`${head}push:\n  signing: { key: /root/sigstore.key, passphraseFile: p }\n`).message).toMatch(
      /push\.signing\.key: expected a path relative to the definition's folder/,
    );
    expect(invalid(`${head}push:\n  signing: { key: k, passphraseFile: ../../p }\n`).message).toMatch(
      /push\.signing\.passphraseFile: expected a path inside the definition's folder/,
    );
  });

  it("refuses image paths with . or .. components (files[].dest, users[].home)", () => {
    expect(invalid('name: x\nversion: "1"\nfiles:\n  - dest: /../outside/x\n    content: ""\n').message).toMatch(
      /files\[0\]\.dest: expected an absolute path without \. or \.\. components/,
    );
    expect(invalid('name: x\nversion: "1"\nusers:\n  - name: u\n    home: /home/../../tmp\n').message).toMatch(
      /users\[0\]\.home: expected an absolute path without/,
    );
  });

  it("suggests only close words", () => {
    expect(closest("pacakges", ["packages", "exclude"])).toBe("packages");
    expect(closest("zzz", ["packages", "exclude"])).toBeUndefined();
  });
});

describe("deb-bootc-compose validate", () => {
  it("prints the variants of a valid definition and exits 0", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["validate", example], out)).toBe(0);
    expect(out.text.join("\n")).toMatch(/variant standard \(inherits minimal\): \d+ packages requested/);
  });

  it("prints JSON with --json", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["validate", "--json", example], out)).toBe(0);
    const doc = JSON.parse(out.text.join(""));
    expect(doc.ok).toBe(true);
    expect(doc.definition.name).toBe("debian-bootc-minimal");
  });

  it("exits 2 with the file, line and suggestion for a typo, also as JSON", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["validate", fixture("typo.yaml")], out)).toBe(2);
    expect(out.errors[0]).toMatch(/typo\.yaml:3:\d+: pacakges: unknown field "pacakges" \(did you mean "packages"\?\)/);
    const json = memoryOutput();
    expect(await runCli(tool, ["validate", "--json", fixture("typo.yaml")], json)).toBe(2);
    const doc = JSON.parse(json.text.join(""));
    expect(doc.error.code).toBe("CONFIG_INVALID");
    expect(doc.error.details.line).toBe(3);
    expect(await readFile(fixture("typo.yaml"), "utf8")).toContain("pacakges");
  });

  it("reports files the definition refers to that do not exist", async () => {
    const out = memoryOutput();
    expect(await runCli(tool, ["validate", fixture("missing-file.yaml")], out)).toBe(2);
    expect(out.errors[0]).toMatch(/files\[0\]\.src: .*no-such-file\.conf does not exist/);
  });
});
