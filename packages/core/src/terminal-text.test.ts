import { describe, expect, it } from "vitest";
import { plainText } from "./terminal-text.js";

describe("plainText", () => {
  it("drops escape sequences: colours, cursor moves, an OSC ended by BEL or by ST, a lone ESC pair", () => {
    expect(plainText("\x1b[0m\x1b[30;47m*Debian\x1b[05;78H\x1b[?7h ok")).toBe("*Debian ok");
    expect(plainText("a\x1b]52;c;ZXZpbA==\x07b\x1b]0;title\x1b\\c")).toBe("abc");
    expect(plainText("x\x1bcy\x1b")).toBe("xy");
  });

  it("drops carriage returns and other control characters, C1 ones included, and keeps tabs, newlines and text", () => {
    expect(plainText("safe\rEVIL\x00\x08\x7f\x9b2J\n\tné ✓")).toBe("safeEVIL2J\n\tné ✓");
  });
});
