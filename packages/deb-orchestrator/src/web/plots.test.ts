import { generateOpenPgpKey } from "@debian-bootc/debian";
import { describe, expect, it } from "vitest";
import { groupFingerprint, keyFingerprint } from "./fingerprint.js";
import { inheritanceSvg } from "./pages/tags.js";
import { durationPlot, niceTicks, timelinePlot } from "./plots.js";

describe("plots", () => {
  it("picks round axis steps", () => {
    expect(niceTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(niceTicks(100)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0)).toEqual([0, 1]);
  });

  it("draws one linked dot per build, a line through the complete ones, and escapes the labels", () => {
    const t0 = Date.UTC(2025, 0, 1);
    const svg = durationPlot("Durations of <x>", [
      { time: t0, durationMs: 60_000, state: "complete", label: "a <b>", href: "/builds/1" },
      { time: t0 + 3_600_000, durationMs: 90_000, state: "failed", label: "a 2", href: "/builds/2" },
      { time: t0 + 7_200_000, durationMs: 30_000, state: "complete", label: "a 3", href: "/builds/3" },
    ]).text;
    expect(svg.match(/<circle /g)).toHaveLength(3);
    expect(svg.match(/<a href="\/builds\/\d">/g)).toHaveLength(3);
    expect(svg).toContain('class="dot state-failed"');
    expect(svg.match(/<path class="line" d="M[^"]+ L[^"]+"/g)).toHaveLength(1); // two complete points joined
    expect(svg).toContain("a &lt;b&gt;: 1 min 0 s (complete)");
    expect(svg).toContain('aria-label="Durations of &lt;x&gt;"');
    expect(svg).toContain("median duration of complete builds 1 min 0 s");
    expect(svg).not.toContain("style=");
    expect(durationPlot("x", []).text).toContain("No finished builds");
  });

  it("draws sampled series on one scale, in percent when asked", () => {
    const svg = timelinePlot("Load", Date.UTC(2025, 0, 1), 900_000, [{ label: "busy", cls: "series-util", values: [0, 50, 100, 25] }], {
      percent: true,
    }).text;
    for (const tick of ["0 %", "25 %", "50 %", "75 %", "100 %"]) expect(svg).toContain(`>${tick}</text>`);
    expect(svg).toContain("busy: now 25 %, peak 100 %");
    expect(svg).toMatch(/<path class="line series-util" d="M64\.0 \d+\.\d L\S+ \S+ L\S+ \S+ L704\.0 \S+">/);
  });

  it("draws a tag's inheritance with each tag once, in priority order", () => {
    const svg = inheritanceSvg({
      name: "updates",
      priority: 0,
      repeated: false,
      parents: [
        { name: "candidate", priority: 0, repeated: false, parents: [{ name: "base", priority: 0, repeated: false, parents: [] }] },
        { name: "base", priority: 10, repeated: true, parents: [] },
      ],
    }).text;
    expect([...svg.matchAll(/<text x="[\d.]+" y="[\d.]+">([^<]+)<\/text>/g)].map((m) => m[1])).toEqual([
      "updates",
      "candidate",
      "base",
      "base (see above)",
    ]);
    expect(svg.match(/class="arrow"/g)).toHaveLength(3);
    expect(svg).toContain('aria-label="Inheritance of updates: updates → candidate → base → base"');
  });
});

describe("signing key fingerprint", () => {
  it("matches the fingerprint OpenPGP reports for the key", async () => {
    const key = await generateOpenPgpKey({ name: "hub", email: "hub@example.org", date: new Date(Date.UTC(2024, 0, 1)) });
    expect(await keyFingerprint(key.publicKey)).toBe(key.fingerprint);
    expect(groupFingerprint("0123456789ABCDEF0123456789ABCDEF01234567")).toBe("0123 4567 89AB CDEF 0123 4567 89AB CDEF 0123 4567");
    expect(await keyFingerprint(undefined)).toBeUndefined();
    expect(await keyFingerprint("not a key")).toBeUndefined();
  });
});
