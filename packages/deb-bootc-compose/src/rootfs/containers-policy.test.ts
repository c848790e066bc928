import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../../../test/temp-dir.js";
import {
  containersPolicy,
  dockerRepository,
  IMAGE_POLICY,
  IMAGE_REGISTRIES_D,
  IMAGE_SIGSTORE_KEY,
  installContainersTrust,
  REGISTRY_SCOPE,
  registriesDConfig,
} from "./containers-policy.js";
import { ImageRoot } from "./image-root.js";

const PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";

describe("containers policy rendering", () => {
  it("requires a sigstore signature by the key for the scope and keeps Debian's default elsewhere", () => {
    expect(JSON.parse(containersPolicy(undefined, "registry.example:5000/debian", "/etc/containers/keys/k.pub"))).toEqual({
      default: [{ type: "insecureAcceptAnything" }],
      transports: {
        docker: {
          "registry.example:5000/debian": [
            { type: "sigstoreSigned", keyPath: "/etc/containers/keys/k.pub", signedIdentity: { type: "matchRepoDigestOrExact" } },
          ],
        },
      },
    });
  });

  it("merges into an existing policy: its default and other scopes stay, the scope's requirement is replaced", () => {
    const existing = JSON.stringify({
      default: [{ type: "reject" }],
      transports: {
        docker: { "quay.io": [{ type: "insecureAcceptAnything" }], "r.example/debian": [{ type: "insecureAcceptAnything" }] },
        "docker-daemon": { "": [{ type: "insecureAcceptAnything" }] },
      },
    });
    const policy = JSON.parse(containersPolicy(existing, "r.example/debian", IMAGE_SIGSTORE_KEY));
    expect(policy.default).toEqual([{ type: "reject" }]);
    expect(policy.transports["docker-daemon"]).toEqual({ "": [{ type: "insecureAcceptAnything" }] });
    expect(policy.transports.docker["quay.io"]).toEqual([{ type: "insecureAcceptAnything" }]);
    expect(policy.transports.docker["r.example/debian"][0].type).toBe("sigstoreSigned");
  });

  it("refuses an image's policy.json that is not a JSON object", () => {
    for (const text of ["{", "[]", "null"]) {
      expect(() => containersPolicy(text, "r.example", "/k")).toThrow(expect.objectContaining({ code: "ROOTFS_CUSTOMIZE_FAILED" }));
    }
  });

  it("turns on sigstore attachments for the scope in registries.d", () => {
    expect(registriesDConfig("127.0.0.1:5000/x")).toContain('docker:\n  "127.0.0.1:5000/x":\n    use-sigstore-attachments: true\n');
    expect(() => registriesDConfig("x\n  evil: 1")).toThrow(expect.objectContaining({ code: "DEFINITION_INVALID" }));
  });

  it("accepts registry scopes only: no options, spaces, schemes, tags or YAML", () => {
    for (const ok of ["registry.example", "registry.example:5000/debian/bootc", "127.0.0.1:45123", "localhost/a_b-c.d"]) {
      expect(REGISTRY_SCOPE.test(ok)).toBe(true);
    }
    for (const bad of [
      "-x",
      "--policy=/tmp/p",
      "docker://r.example",
      "r.example/Debian",
      "r.example/a:tag",
      "r.example/a b",
      "r.example\n",
      "",
    ]) {
      expect(REGISTRY_SCOPE.test(bad)).toBe(false);
    }
  });

  it("reads a docker:// destination's repository and refuses anything skopeo could read otherwise", () => {
    expect(dockerRepository("docker://127.0.0.1:5000/debian-bootc-minimal:13.0")).toBe("127.0.0.1:5000/debian-bootc-minimal");
    expect(dockerRepository(`docker://r.example/a/b@sha256:${"0".repeat(64)}`)).toBe("r.example/a/b");
    for (const bad of [
      "docker://--sign-by=x",
      "docker://r.example:13.0",
      "docker://r.example/a:-x",
      "oci:/tmp/x",
      "docker://r.example/a:t --x",
    ]) {
      expect(() => dockerRepository(bad)).toThrow(expect.objectContaining({ code: "PUSH_DESTINATION_INVALID" }));
    }
  });
});

describe("installContainersTrust", () => {
  const dir = useTempDir("containers-trust-");

  it("writes the key, registries.d and the policy into the tree, merged with the package's policy", async () => {
    const root = join(dir(), "tree");
    await mkdir(join(root, "etc/containers"), { recursive: true });
    await writeFile(join(root, "etc/containers/policy.json"), JSON.stringify({ default: [{ type: "reject" }] }));
    await installContainersTrust(new ImageRoot(root), { scope: "r.example/debian", publicKey: PUBLIC_KEY });
    expect(await readFile(join(root, IMAGE_SIGSTORE_KEY), "utf8")).toBe(PUBLIC_KEY);
    expect(await readFile(join(root, IMAGE_REGISTRIES_D), "utf8")).toContain("use-sigstore-attachments: true");
    const policy = JSON.parse(await readFile(join(root, IMAGE_POLICY), "utf8"));
    expect(policy.default).toEqual([{ type: "reject" }]);
    expect(policy.transports.docker["r.example/debian"][0].keyPath).toBe(IMAGE_SIGSTORE_KEY);
  });

  it("never follows a symlink in the image out of the tree", async () => {
    const root = join(dir(), "tree");
    const host = join(dir(), "host");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(host);
    await writeFile(join(host, "policy.json"), "host's own\n");
    // a package that plants /etc/containers -> the host's directory (absolute, as seen from the host)
    await symlink(host, join(root, "etc/containers"));
    await installContainersTrust(new ImageRoot(root), { scope: "r.example", publicKey: PUBLIC_KEY });
    expect(await readFile(join(host, "policy.json"), "utf8")).toBe("host's own\n");
    expect(JSON.parse(await readFile(join(root, host, "policy.json"), "utf8")).transports.docker["r.example"]).toHaveLength(1);
  });
});
