/**
 * Boot Loader Specification entries as ostree writes them (/boot/loader/entries/ostree-*.conf), and a
 * GRUB configuration made from them for the install-time boot: Debian's GRUB has no blscfg command, so
 * the entries become plain menu entries. After the first boot, ostree's grub2 backend regenerates it.
 */
export interface BootEntry {
  file: string;
  title: string;
  version: number;
  linux: string;
  initrd: string[];
  options: string;
}

export function parseBootEntry(file: string, text: string): BootEntry {
  const fields = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    fields.set(m[1]!, [...(fields.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string) => fields.get(key)?.[0] ?? "";
  return {
    file,
    title: one("title") || file,
    version: Number(one("version")) || 0,
    linux: one("linux"),
    initrd: (fields.get("initrd") ?? []).flatMap((v) => v.split(/\s+/)),
    options: one("options"),
  };
}

/** GRUB's single-quoted string. */
function grubQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** Newest deployment first (ostree numbers entries so that the higher version is the default). */
export function grubConfig(entries: readonly BootEntry[], options: { timeout?: number } = {}): string {
  const sorted = [...entries].sort((a, b) => b.version - a.version || a.file.localeCompare(b.file));
  const lines = [
    "# Written by deb-bootc-compose from ostree's boot entries; ostree's grub2 backend replaces it after the first deployment change.",
    "set default=0",
    `set timeout=${options.timeout ?? 1}`,
    "",
  ];
  for (const e of sorted) {
    lines.push(`menuentry ${grubQuote(e.title)} {`, `  linux ${e.linux} ${e.options}`.trimEnd());
    if (e.initrd.length > 0) lines.push(`  initrd ${e.initrd.join(" ")}`);
    lines.push("}", "");
  }
  return lines.join("\n");
}

/** The modules built into the unsigned GRUB EFI image (what grub-mkconfig's output and ours use). */
export const GRUB_EFI_MODULES = [
  "normal",
  "configfile",
  "linux",
  "search",
  "search_fs_uuid",
  "search_label",
  "part_gpt",
  "part_msdos",
  "ext2",
  "fat",
  "echo",
  "test",
  "gzio",
  "loadenv",
  "bli",
  "efifwsetup",
  "efi_gop",
  "all_video",
  "font",
  "gfxterm",
  "sleep",
  "reboot",
  "halt",
  "ls",
  "cat",
  "regexp",
  "minicmd",
  "serial",
  "terminal",
];

/** The modules built into GRUB's core.img for legacy BIOS (it reads no module from disk). */
export const GRUB_PC_MODULES = [
  "biosdisk",
  ...GRUB_EFI_MODULES.filter((m) => !["bli", "efifwsetup", "efi_gop", "all_video", "font", "gfxterm"].includes(m)),
];

/**
 * The first configuration GRUB reads: embedded in a GRUB made by grub-mkimage, or EFI/debian/grub.cfg
 * on the ESP for Debian's signed GRUB. It finds the root filesystem by UUID and reads /boot/grub/grub.cfg
 * there. `serial` also puts GRUB's menu on the first serial port (a BIOS has no other console to share).
 */
export function grubEarlyConfig(rootUuid: string, options: { serial?: boolean } = {}): string {
  return [
    ...(options.serial ? ["serial --unit=0 --speed=115200", "terminal_input serial console", "terminal_output serial console"] : []),
    `search --no-floppy --fs-uuid --set=root ${rootUuid}`,
    "set prefix=($root)/boot/grub",
    "configfile ($root)/boot/grub/grub.cfg",
    "",
  ].join("\n");
}
