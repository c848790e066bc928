import { describe, expect, it } from "vitest";
import { grubConfig, grubEarlyConfig, parseBootEntry } from "./boot-entries.js";

// As ostree 2025.2 writes them with sysroot.bootprefix=true (from a deployment made by the image-build phase).
const ENTRY_NEW = `title Debian GNU/Linux 13 (trixie) 13.0 (ostree:0)
version 2
options root=UUID=808567b4-270c-4fc3-83da-f3dcf3bc37eb rw console=ttyS0,115200 ostree=/ostree/boot.1/os/1a2b/0
linux /boot/ostree/os-1a2b/vmlinuz-6.12.117+deb13-amd64
initrd /boot/ostree/os-1a2b/initramfs-6.12.117+deb13-amd64.img
`;
const ENTRY_OLD = `title Debian GNU/Linux 13 (trixie) 13.0 (ostree:1)
version 1
options root=UUID=808567b4-270c-4fc3-83da-f3dcf3bc37eb rw ostree=/ostree/boot.1/os/9f8e/0
linux /boot/ostree/os-9f8e/vmlinuz-6.12.117+deb13-amd64
initrd /boot/ostree/os-9f8e/initramfs-6.12.117+deb13-amd64.img
`;

describe("GRUB configuration from ostree's boot entries", () => {
  it("parses an entry", () => {
    expect(parseBootEntry("ostree-2-os.conf", ENTRY_NEW)).toEqual({
      file: "ostree-2-os.conf",
      title: "Debian GNU/Linux 13 (trixie) 13.0 (ostree:0)",
      version: 2,
      linux: "/boot/ostree/os-1a2b/vmlinuz-6.12.117+deb13-amd64",
      initrd: ["/boot/ostree/os-1a2b/initramfs-6.12.117+deb13-amd64.img"],
      options: "root=UUID=808567b4-270c-4fc3-83da-f3dcf3bc37eb rw console=ttyS0,115200 ostree=/ostree/boot.1/os/1a2b/0",
    });
  });

  it("puts the highest version first (the default) and quotes titles", () => {
    const cfg = grubConfig([
      parseBootEntry("ostree-1-os.conf", ENTRY_OLD),
      parseBootEntry("ostree-2-os.conf", ENTRY_NEW.replace("(trixie)", "'trixie'")),
    ]);
    const entries = [...cfg.matchAll(/^menuentry (.*) \{$/gm)].map((m) => m[1]);
    expect(entries).toEqual(["'Debian GNU/Linux 13 '\\''trixie'\\'' 13.0 (ostree:0)'", "'Debian GNU/Linux 13 (trixie) 13.0 (ostree:1)'"]);
    expect(cfg).toContain("set default=0\nset timeout=1\n");
    expect(cfg).toContain(
      "  linux /boot/ostree/os-1a2b/vmlinuz-6.12.117+deb13-amd64 root=UUID=808567b4-270c-4fc3-83da-f3dcf3bc37eb rw console=ttyS0,115200 ostree=/ostree/boot.1/os/1a2b/0\n  initrd /boot/ostree/os-1a2b/initramfs-6.12.117+deb13-amd64.img\n}",
    );
  });

  it("embeds a search for the root filesystem by UUID", () => {
    expect(grubEarlyConfig("u-1")).toBe(
      "search --no-floppy --fs-uuid --set=root u-1\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n",
    );
  });
});
