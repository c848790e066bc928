/**
 * Text from outside (a guest's console, a build's log, a package's output) shown on a terminal: without
 * escape sequences (CSI such as colours and cursor moves, OSC such as a window title or a clipboard write,
 * any other ESC pair such as a reset) and without other control characters but tab and newline, so that it can neither
 * drive the terminal nor overwrite what was printed before it (a carriage return).
 */
const ESCAPE_RE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-~])/g;
const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

export function plainText(text: string): string {
  return text.replace(ESCAPE_RE, "").replace(CONTROL_RE, "");
}
